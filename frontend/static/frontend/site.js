// Every page: the language menu applies on change (the Change button covers no-JS).
// A file, not an inline handler: the Content-Security-Policy allows no inline script.
document.addEventListener("change", (event) => {
  if (event.target.matches("form.lang select")) event.target.form.submit();
});
