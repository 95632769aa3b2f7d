// lib/chart.js - Chart.js, loaded lazily (the vendored UMD build is only
// fetched by the first page that draws a chart), and the bar chart the
// pages share. Runs nothing when loaded.

let chartLoad = null;
// Chart.js (vendored UMD build), loaded on the first page that draws.
export function loadChart() {
  if (window.Chart) return Promise.resolve(window.Chart);
  chartLoad = chartLoad || new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/vendor/chart.umd.min.js';
    s.onload = () => resolve(window.Chart);
    s.onerror = () => { chartLoad = null; reject(new Error('cannot load /vendor/chart.umd.min.js')); };
    document.head.append(s);
  });
  return chartLoad;
}

export function barChart(Chart, canvas, labels, datasets, { yTitle, max } = {}) {
  const palette = ['#d03a3a', '#2457c5', '#2f9e44', '#e0a100', '#7048e8', '#0c8599'];
  return new Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: datasets.map((d, i) => Object.assign({ backgroundColor: palette[i % palette.length] }, d)) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, max, title: { display: !!yTitle, text: yTitle } } },
      plugins: { legend: { display: datasets.length > 1 } },
    },
  });
}
