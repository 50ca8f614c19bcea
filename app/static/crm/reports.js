/* The reports' two charts, drawn by the vendored Chart.js from the figures the page carries. */
(function () {
  "use strict";
  var source = document.getElementById("crm-report-data");
  if (!source || !window.Chart) { return; }
  var data = JSON.parse(source.textContent);
  new Chart(document.getElementById("crm-chart-months"), {
    type: "bar",
    data: {
      labels: data.months,
      datasets: [
        { label: data.labels.received, data: data.received, backgroundColor: "#5bc0de" },
        { label: data.labels.won, data: data.won, backgroundColor: "#5cb85c" }
      ]
    },
    options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  new Chart(document.getElementById("crm-chart-funnel"), {
    type: "bar",
    data: {
      labels: data.statuses,
      datasets: [{ label: data.labels.requests, data: data.counts, backgroundColor: ["#5bc0de", "#337ab7", "#f0ad4e", "#5cb85c", "#999"] }]
    },
    options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
}());
