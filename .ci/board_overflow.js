// Run in the page by board_test.py: what on the board does not show whole.
// Every cell, tile, card and heading shows its text uncut (or ends in an
// ellipsis on purpose) and lies inside the box that clips it and inside the
// window; the navigation is one line and ends before the clock. Returns a
// list of what is wrong (empty when all is well).
const bad = [];
const clipOf = (el) => { for (let p = el.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflow; if (o !== 'visible') return p; } return document.documentElement; };
for (const el of document.querySelectorAll('#board td, #board th, #board .tile, #board .agent, #board h2, #board .cbs div, #bar, #legend')) {
  if (el.closest('.rep-table')) continue; // it scrolls
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  const what = (el.className ? el.tagName + '.' + el.className : el.tagName) + ' "' + el.innerText.slice(0, 20).replace(/\n/g, ' ') + '"';
  if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).textOverflow !== 'ellipsis') bad.push('cut ' + what + ` ${el.scrollWidth}>${el.clientWidth}`);
  const b = clipOf(el).getBoundingClientRect();
  const vw = innerWidth, vh = innerHeight;
  if (r.right > Math.min(b.right, vw) + 1 || r.bottom > Math.min(b.bottom, vh) + 1) bad.push('outside ' + what + ` ${Math.round(r.right)},${Math.round(r.bottom)} > ${Math.round(b.right)},${Math.round(b.bottom)}`);
}
// The header's parts do not run into each other, and the nav is one line.
const links = [...document.querySelectorAll('#views a')].map((a) => a.getBoundingClientRect());
if (new Set(links.map((r) => Math.round(r.top))).size > 1) bad.push('the navigation wraps');
const clock = document.getElementById('clock').getBoundingClientRect();
if (links.length && links[links.length - 1].right > clock.left) bad.push('the navigation runs into the clock');
if (!document.querySelector('#board td, #board .agent')) bad.push('nothing drawn');
return bad;
