// The widgets' one stylesheet, adopted by every shadow root (styles stay inside each widget).
export const sheet = new CSSStyleSheet();
sheet.replaceSync(`
:host { display: block; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a; --accent: #0a58a8; --border: #d0d7de;
  --card: #f6f8fa; --hot: 220, 110, 20; --cool: 10, 88, 168; --err: #b3261e;
  font: 15px/1.5 system-ui, sans-serif; color: var(--fg); }
@media (prefers-color-scheme: dark) {
  :host { --fg: #e6edf3; --bg: #0d1117; --muted: #a0aab4; --accent: #6cb6ff; --border: #3d444d; --card: #161b22; --err: #ff8a80; }
}
.card { border: 1px solid var(--border); border-radius: 8px; padding: 0.75rem 1rem; background: var(--card); }
h3 { margin: 0 0 0.5rem; font-size: 1.05rem; }
.row { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.4rem 0; }
.row.top { align-items: flex-start; }
[hidden] { display: none !important; }
figure.plot { margin: 0; }
.grow { flex: 1 1 12rem; min-width: 0; }
label { display: inline-flex; gap: 0.3rem; align-items: center; }
input, select, textarea, button { font: inherit; font-size: 14px; color: var(--fg); background: var(--bg); border: 1px solid var(--border);
  border-radius: 4px; padding: 0.25rem 0.45rem; }
input[type=number] { width: 5rem; }
input[type=file] { max-width: 100%; }
label { max-width: 100%; flex-wrap: wrap; }
textarea { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
@media (prefers-color-scheme: dark) { button { color: #0d1117; } }
button.secondary { background: var(--bg); color: var(--fg); border-color: var(--border); }
button:disabled { opacity: 0.5; cursor: default; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.muted { color: var(--muted); font-size: 0.9em; }
.error { color: var(--err); }
progress { width: 100%; height: 0.5rem; }
.tokens { font: 14px/1.8 ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; min-height: 3rem; padding: 0.4rem;
  border: 1px solid var(--border); border-radius: 4px; background: var(--bg); }
.tok { border-right: 1px solid var(--border); padding: 0 1px; border-radius: 2px; }
.tok.prompt { color: var(--muted); }
.tok[role=button] { cursor: pointer; }
.tok-detail { min-height: 1.5em; margin: 0.3rem 0; font: 13px/1.5 ui-monospace, monospace; }
.bars { display: grid; grid-template-columns: max-content 1fr max-content; gap: 2px 0.5rem; align-items: center; font-size: 13px; }
.bars .bar { height: 0.9rem; background: rgb(var(--cool)); border-radius: 2px; min-width: 1px; }
.bars button.pick { font-family: ui-monospace, monospace; font-size: 13px; padding: 0 0.35rem; background: var(--bg); color: var(--fg); border-color: var(--border); text-align: left; }
table { border-collapse: collapse; font-size: 13px; }
td, th { padding: 0.15rem 0.5rem; text-align: left; border-bottom: 1px solid var(--border); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cols2 { display: grid; grid-template-columns: 1fr 1fr; gap: 0.75rem; }
@media (max-width: 640px) { .cols2 { grid-template-columns: 1fr; } }
canvas { max-width: 100%; }
.drop { border: 2px dashed var(--border); border-radius: 6px; padding: 0.4rem; }
.drop.over { border-color: var(--accent); }
h4 { margin: 0.4rem 0 0.2rem; font-size: 0.95rem; }
.side .sum { margin: 0.3rem 0; }
.tuned-note { border-left: 3px solid rgb(var(--hot)); padding-left: 0.5rem; }
svg.chart { display: block; width: 100%; max-width: 28rem; height: auto; }
svg.chart text { font: 10px ui-monospace, monospace; fill: var(--muted); }
svg.chart .axis, svg.chart .zero { fill: none; stroke: var(--border); }
svg.chart .zero { stroke-dasharray: 3 3; }
svg.chart .line { fill: none; stroke-width: 1.5; }
svg.chart .loss { stroke: rgb(var(--hot)); fill: rgb(var(--hot)); }
svg.chart .margin { stroke: rgb(var(--cool)); fill: rgb(var(--cool)); }
svg.chart polyline.line { fill: none; }
.key { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; vertical-align: -0.05em; }
.key.loss { background: rgb(var(--hot)); }
.key.margin { background: rgb(var(--cool)); }
.scroll { overflow-x: auto; max-width: 100%; }
button.rate { min-width: 2.2rem; font-weight: 600; background: var(--bg); color: var(--fg); border-color: var(--border); }
button.rate.good[aria-pressed=true] { background: #1a7f37; border-color: #1a7f37; color: #fff; }
button.rate.bad[aria-pressed=true] { background: var(--err); border-color: var(--err); color: #fff; }
@media (prefers-color-scheme: dark) { button.rate.good[aria-pressed=true], button.rate.bad[aria-pressed=true] { color: #0d1117; } button.rate.good[aria-pressed=true] { background: #56d364; border-color: #56d364; } }
ol.completions { list-style: none; padding: 0; margin: 0.4rem 0; display: grid; gap: 0.35rem; }
ol.completions li { display: flex; gap: 0.4rem; align-items: flex-start; flex-wrap: wrap; }
ol.completions .tokens { flex: 1 1 14rem; min-height: 0; min-width: 0; }
ol.completions .seedno { font: 12px ui-monospace, monospace; color: var(--muted); min-width: 3.5rem; padding-top: 0.4rem; }
caption { text-align: left; padding: 0.2rem 0; }
td.text { min-width: 12rem; max-width: 22rem; font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`);
