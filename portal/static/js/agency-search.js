// Progressive enhancement: a filter box above the agency list. Without JavaScript the grouped
// select works as it is.
(function () {
  "use strict";
  var box = document.querySelector("[data-agency-search]");
  if (!box) { return; }
  var select = box.querySelector("select");
  var input = document.createElement("input");
  input.type = "search";
  input.className = "agency-filter";
  input.setAttribute("aria-label", box.querySelector("label").textContent.trim());
  input.setAttribute("aria-controls", select.id);
  input.placeholder = box.getAttribute("data-filter-placeholder") || "";
  select.parentNode.insertBefore(input, select);

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase();
  }
  input.addEventListener("input", function () {
    var needle = fold(input.value.trim());
    Array.prototype.forEach.call(select.querySelectorAll("option"), function (option) {
      if (!option.value) { return; }
      var match = !needle || fold(option.textContent).indexOf(needle) !== -1;
      option.hidden = !match;
      option.disabled = !match && !option.selected;
    });
    select.size = needle ? 8 : 0;
  });
})();
