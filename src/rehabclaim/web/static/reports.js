// The reports page's charts: bar charts drawn with the vendored Chart.js from the figures in the page's
// <script type="application/json" id="report-charts"> block (billing.ReportCharts: per chart its labels and
// one dataset per series). Every figure is also in the table beside its chart; without JavaScript, or
// without a figure to draw, the canvas stays hidden and the table is the report.
(function () {
  "use strict";

  // Okabe-Ito: told apart with the common colour-vision deficiencies
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  var dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

  function config(chart, quiet) {
    return {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: chart.datasets.map(function (series, index) {
          return { label: series.label, data: series.data, backgroundColor: PALETTE[index % PALETTE.length] };
        })
      },
      options: {
        responsive: true,
        aspectRatio: 2.5,
        animation: quiet ? false : undefined,
        scales: {
          x: { stacked: chart.stacked },
          y: {
            stacked: chart.stacked,
            beginAtZero: true,
            title: { display: true, text: chart.value_label },
            ticks: { callback: function (value) { return dollars.format(value); } }
          }
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) { return item.dataset.label + ": " + dollars.format(item.parsed.y); }
            }
          }
        }
      }
    };
  }

  function draw() {
    var block = document.getElementById("report-charts");
    if (!block || typeof window.Chart !== "function") return;
    var charts = JSON.parse(block.textContent);
    var quiet = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    document.querySelectorAll("canvas[data-report-chart]").forEach(function (canvas) {
      var chart = charts[canvas.getAttribute("data-report-chart")];
      if (!chart || !chart.labels.length) return;
      canvas.hidden = false;
      new window.Chart(canvas, config(chart, quiet));
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
