/* The claim page's compare control: the buyer's photo and the merchant's photo aligned
 * to it, stacked. Without this script two radio buttons toggle between them (CSS only);
 * with it, a slider uncovers the merchant's photo from the left, and the radio buttons
 * move the slider to either end. No inline script or style attribute: the page's
 * Content-Security-Policy allows neither (styles set through the CSSOM are allowed). */
(function () {
  "use strict";

  function setUp(control) {
    var stage = control.querySelector(".compare-stage");
    var yours = control.querySelector(".compare-yours");
    var picks = control.querySelectorAll(".compare-pick");
    if (!stage || !yours || control.classList.contains("is-slider")) {
      return;
    }
    var slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    slider.value = "50";
    slider.className = "compare-slider";
    slider.setAttribute("aria-label", control.getAttribute("data-slider-label") || "");
    var divider = document.createElement("span");
    divider.className = "compare-divider";
    divider.setAttribute("aria-hidden", "true");
    stage.appendChild(divider);
    stage.parentNode.insertBefore(slider, stage.nextSibling);

    function show(value) {
      // The merchant's photo covers the stage from the left up to the slider.
      yours.style.clipPath = "inset(0 " + (100 - value) + "% 0 0)";
      divider.style.left = value + "%";
      control.setAttribute("data-position", String(value));
    }

    slider.addEventListener("input", function () {
      show(Number(slider.value));
    });
    picks.forEach(function (pick) {
      // "click", not "change": picking the side already checked moves the slider too.
      pick.addEventListener("click", function () {
        slider.value = pick.value === "yours" ? "100" : "0";
        show(Number(slider.value));
      });
    });
    control.classList.add("is-slider");
    show(Number(slider.value));
  }

  function setUpAll() {
    document.querySelectorAll("[data-compare]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
