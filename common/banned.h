/*
 * banned.h - functions this project never calls.
 *
 * Included (via -include) in every translation unit, as git does, so that a
 * call to an unbounded string function fails to compile. Use snprintf,
 * memcpy with explicit lengths, or the bounded helpers in buf.h instead.
 */
#ifndef KC_BANNED_H
#define KC_BANNED_H

#define KC_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) KC_BANNED(strcpy)
#undef strcat
#define strcat(x, y) KC_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) KC_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) KC_BANNED(strncat)
#undef sprintf
#define sprintf(...) KC_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) KC_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) KC_BANNED(strtok)
#undef gets
#define gets(x) KC_BANNED(gets)

#endif
