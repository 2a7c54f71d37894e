//! The look shared by every HTML page (comparison, single runs, history):
//! one style sheet and one figure markup, so the pages read alike.

use crate::common::esc_html;

/// The inline style sheet of every page.
pub const CSS: &str = r#"
:root{--base:#3b6ea8;--cand:#e06c00;--bad:#c62828;--good:#2e7d32;--warn:#a15c00;--muted:#666;--line:#ddd}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:16px 24px;color:#222;background:#fafafa;font-size:14px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:12px 0 4px}
.verdict{padding:12px 16px;border-radius:6px;color:#fff;margin-bottom:8px}
.verdict.fail{background:var(--bad)}
.verdict.pass{background:var(--good)}
.verdict.inconclusive{background:var(--warn)}
.warning{border-left:4px solid var(--warn);background:#fff6e0;padding:4px 12px;margin:8px 0}
.why{border-left:4px solid #888;background:#f4f4f4;padding:4px 12px;margin:8px 0}
.error{border-left:4px solid var(--bad);background:#fdecea;padding:4px 12px;margin:8px 0}
.sub{color:var(--muted);margin:0 0 8px}
.top{display:grid;grid-template-columns:minmax(380px,1fr) 620px;gap:16px;align-items:start}
.grid{display:flex;flex-wrap:wrap;gap:16px}
figure.plot{flex:1 1 560px;max-width:620px;margin:0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px}
figure.plot svg{display:block;max-width:100%;height:auto}
figcaption{font-size:12px;color:var(--muted);padding:4px 2px 0}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.regression td{background:#fdecea}
tr.regression td.v,td.fail{color:var(--bad);font-weight:600}
tr.improvement td.v{color:var(--good);font-weight:600}
tr.inconclusive td.v,tr.low-confidence td.v{color:#8a6d00}
tr.unchanged td.v{color:var(--muted)}
tr.explanatory td{color:var(--muted)}tr.explanatory td.v{font-style:italic}
tr.possible td.v{color:var(--warn);font-weight:600}
tr.headline td.role{font-weight:600}
tr.disturbed td{background:#fff6e0}
.tag{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;background:#ffe0b2;color:#7a4100}
.hosts{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.key-b{color:var(--base);font-weight:600}.key-c{color:var(--cand);font-weight:600}
code{font-size:12px}
"#;

/// A plot with its caption, as every page draws it; the caption is escaped.
pub fn figure(svg: &str, caption: &str) -> String {
    format!(
        "<figure class=\"plot\">{svg}<figcaption>{}</figcaption></figure>\n",
        esc_html(caption)
    )
}
