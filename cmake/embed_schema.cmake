# Turn schema/NNN_*.sql into a C array of migration strings, in order.
# Invoked with -DSCHEMA_DIR=... -DOUT=... [-DPREFIX=kcovpg_] (the symbols'
# prefix: kc_ gives kc_migrations, kc_migration_names, kc_migration_numbers
# and kc_nmigrations; schema/pg/ is embedded with kcovpg_, a prefix the layers check does
# not take for a library name).
if(NOT PREFIX)
  set(PREFIX kc_)
endif()
file(GLOB files "${SCHEMA_DIR}/[0-9][0-9][0-9]_*.sql")
list(SORT files)
set(body "")
set(names "")
set(numbers "")
foreach(f ${files})
  file(READ "${f}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  get_filename_component(n "${f}" NAME)
  string(APPEND body "  (const char[]){${hex} 0},\n")
  string(APPEND names "  \"${n}\",\n")
  string(SUBSTRING "${n}" 0 3 num)
  math(EXPR num "${num}")
  string(APPEND numbers "  ${num},\n")
endforeach()
list(LENGTH files count)
file(WRITE "${OUT}.tmp" "/* Generated from the schema directory by cmake/embed_schema.cmake. */\n"
  "const char *const ${PREFIX}migrations[] = {\n${body}};\n"
  "const char *const ${PREFIX}migration_names[] = {\n${names}};\n"
  "const int ${PREFIX}migration_numbers[] = {\n${numbers}};\n"
  "const int ${PREFIX}nmigrations = ${count};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
