(function(){
  var charts=document.querySelectorAll('svg.chart'),ok=0;
  charts.forEach(function(svg){
    var marks=svg.querySelectorAll('.mark'),drawn=0;
    marks.forEach(function(m){var b=m.getBBox();if(b.width>0||b.height>0){drawn++;}});
    svg.setAttribute('data-marks',String(drawn));
    if(drawn>0){ok++;}
  });
  document.body.setAttribute('data-charts',String(charts.length));
  document.body.setAttribute('data-rendered',String(ok));
})();
