//! Text rendering of metric histories and their change points.

use std::fmt::Write as _;

use baselines::history::MetricHistory;

use crate::show::fmt_value;

/// One block per series: points, last value, change points, alerts.
pub fn render(series: &[MetricHistory]) -> String {
    let mut o = String::new();
    if series.is_empty() {
        let _ = writeln!(
            o,
            "no history matches (add results with `skubench store add`)"
        );
        return o;
    }
    for s in series {
        let last = s.points.last().map_or(0.0, |p| p.value);
        let _ = writeln!(
            o,
            "{} · {} {} · {} — {} points, latest {}",
            s.metric,
            if s.sku.is_empty() { "-" } else { &s.sku },
            s.distro,
            s.workload,
            s.points.len(),
            fmt_value(last, &s.unit)
        );
        for c in &s.change_points {
            let at = s.points.get(c.index);
            let alert = if s.alerts.iter().any(|a| a.index == c.index) {
                "  ALERT"
            } else {
                ""
            };
            let _ = writeln!(
                o,
                "    change point at #{} ({}): {} → {} ({:+.1}%), p = {:.1e}{}{alert}",
                c.index,
                at.map_or("", |p| p.time.as_str()),
                fmt_value(c.mean_before, &s.unit),
                fmt_value(c.mean_after, &s.unit),
                c.change * 100.0,
                c.p_value,
                if c.reported {
                    ""
                } else {
                    " (below the magnitude floor)"
                }
            );
        }
    }
    o
}
