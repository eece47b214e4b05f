// Blind A/B judging: ← left, → right, ↓ or T tie. The buttons carry their key in data-key;
// htmx swaps the card after each vote, so the buttons are looked up on every key press.
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return;
  const key = event.key === "t" || event.key === "T" ? "ArrowDown" : event.key;
  const button = document.querySelector(`#ab-form button[data-key="${key}"]`);
  if (button) {
    event.preventDefault();
    button.click();
  }
});
