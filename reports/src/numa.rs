//! The NUMA matrix of a `mem.numa` run as tables: latency and bandwidth
//! per (CPU node, memory node), rows the CPU nodes and columns the memory
//! nodes, as Intel MLC prints its matrices. The HTML table is a heat map
//! (each cell shaded by how far it is from the best cell). Built from
//! metric values (`mem.numa.c<C>m<M>.ns_per_load` / `.bytes_per_s`), so a
//! report of several runs shows their medians.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::common::{esc_html, fmt_value};

/// One matrix: cells by (CPU node, memory node).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NumaMatrix {
    /// CPU nodes (rows), ascending.
    pub cpu_nodes: Vec<u32>,
    /// Memory nodes (columns), ascending.
    pub mem_nodes: Vec<u32>,
    /// ns per load.
    pub lat_ns: BTreeMap<(u32, u32), f64>,
    /// bytes/s.
    pub bytes_per_s: BTreeMap<(u32, u32), f64>,
}

/// One table to render: title, unit, cells.
type Table<'a> = (&'static str, &'static str, &'a BTreeMap<(u32, u32), f64>);

/// `c0m1` → (0, 1).
fn parse_tag(tag: &str) -> Option<(u32, u32)> {
    let (c, m) = tag.strip_prefix('c')?.split_once('m')?;
    Some((c.parse().ok()?, m.parse().ok()?))
}

impl NumaMatrix {
    /// The matrix in `metrics` (name, value); `None` when there is no cell.
    pub fn from_metrics<'a>(metrics: impl IntoIterator<Item = (&'a str, f64)>) -> Option<Self> {
        let mut m = NumaMatrix::default();
        for (name, v) in metrics {
            let Some(rest) = name.strip_prefix("mem.numa.") else {
                continue;
            };
            let Some((tag, what)) = rest.split_once('.') else {
                continue;
            };
            let Some(cell) = parse_tag(tag) else {
                continue;
            };
            if !v.is_finite() {
                continue;
            }
            match what {
                "ns_per_load" => m.lat_ns.insert(cell, v),
                "bytes_per_s" => m.bytes_per_s.insert(cell, v),
                _ => continue,
            };
            if !m.cpu_nodes.contains(&cell.0) {
                m.cpu_nodes.push(cell.0);
            }
            if !m.mem_nodes.contains(&cell.1) {
                m.mem_nodes.push(cell.1);
            }
        }
        m.cpu_nodes.sort_unstable();
        m.mem_nodes.sort_unstable();
        (!m.cpu_nodes.is_empty()).then_some(m)
    }

    fn single(&self) -> bool {
        self.cpu_nodes.len() == 1 && self.mem_nodes.len() == 1
    }

    /// The two tables (latency, bandwidth) in Markdown.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        for (title, unit, cells) in self.tables() {
            let _ = writeln!(o, "\n{title} (rows: CPU node, columns: memory node)\n");
            let _ = write!(o, "| CPU \\ memory |");
            for m in &self.mem_nodes {
                let _ = write!(o, " node {m} |");
            }
            let _ = write!(o, "\n|---|");
            for _ in &self.mem_nodes {
                let _ = write!(o, "---:|");
            }
            let _ = writeln!(o);
            for c in &self.cpu_nodes {
                let _ = write!(o, "| node {c} |");
                for m in &self.mem_nodes {
                    let v = cells
                        .get(&(*c, *m))
                        .map_or("-".into(), |v| fmt_value(*v, unit));
                    let _ = write!(o, " {v} |");
                }
                let _ = writeln!(o);
            }
        }
        if self.single() {
            let _ = writeln!(o, "\nOne NUMA node: the matrix is the single local cell.");
        }
        o
    }

    /// The two tables as HTML heat maps: green is the best cell, red the
    /// worst relative to it (latency: best/value; bandwidth: value/best).
    pub fn html(&self) -> String {
        let mut o = String::new();
        for (i, (title, unit, cells)) in self.tables().into_iter().enumerate() {
            let lower_better = i == 0;
            let best = if lower_better {
                cells.values().copied().fold(f64::INFINITY, f64::min)
            } else {
                cells.values().copied().fold(0.0, f64::max)
            };
            let _ = write!(
                o,
                "<table class=\"numa\"><caption>{}</caption><thead><tr><th>CPU \\ memory</th>",
                esc_html(title)
            );
            for m in &self.mem_nodes {
                let _ = write!(o, "<th>node {m}</th>");
            }
            let _ = write!(o, "</tr></thead><tbody>");
            for c in &self.cpu_nodes {
                let _ = write!(o, "<tr><th>node {c}</th>");
                for m in &self.mem_nodes {
                    match cells.get(&(*c, *m)) {
                        Some(v) => {
                            let share = if lower_better { best / v } else { v / best };
                            let hue = (120.0 * share.clamp(0.0, 1.0)).round();
                            let _ = write!(
                                o,
                                "<td class=\"num\" style=\"background:hsl({hue},60%,85%)\">{}</td>",
                                esc_html(&fmt_value(*v, unit))
                            );
                        }
                        None => {
                            let _ = write!(o, "<td class=\"num\">-</td>");
                        }
                    }
                }
                let _ = write!(o, "</tr>");
            }
            let _ = writeln!(o, "</tbody></table>");
        }
        if self.single() {
            let _ = writeln!(
                o,
                "<p class=\"sub\">One NUMA node: the matrix is the single local cell.</p>"
            );
        }
        o
    }

    fn tables(&self) -> Vec<Table<'_>> {
        let mut v = Vec::new();
        if !self.lat_ns.is_empty() {
            v.push(("NUMA latency, ns per load", "ns", &self.lat_ns));
        }
        if !self.bytes_per_s.is_empty() {
            v.push((
                "NUMA bandwidth, triad bytes/s",
                "bytes/s",
                &self.bytes_per_s,
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nodes() -> NumaMatrix {
        NumaMatrix::from_metrics([
            ("mem.numa.c0m0.ns_per_load", 90.0),
            ("mem.numa.c0m1.ns_per_load", 180.0),
            ("mem.numa.c1m0.ns_per_load", 170.0),
            ("mem.numa.c1m1.ns_per_load", 95.0),
            ("mem.numa.c0m0.bytes_per_s", 20e9),
            ("mem.numa.c0m1.bytes_per_s", 10e9),
            ("mem.numa.c0m0.lat.psi.cpu.some_pct", 3.0),
            ("mem.numa.cXm0.ns_per_load", 1.0),
            ("disk.randread.iops", 5.0),
        ])
        .unwrap()
    }

    #[test]
    fn cells_come_from_metric_names() {
        let m = two_nodes();
        assert_eq!(m.cpu_nodes, vec![0, 1]);
        assert_eq!(m.mem_nodes, vec![0, 1]);
        assert_eq!(m.lat_ns.len(), 4);
        assert_eq!(m.bytes_per_s.get(&(0, 1)), Some(&10e9));
        assert!(NumaMatrix::from_metrics([("mem.stream.triad.bytes_per_s", 1.0)]).is_none());
    }

    #[test]
    fn markdown_has_a_row_per_cpu_node_and_a_column_per_memory_node() {
        let md = two_nodes().markdown();
        assert!(md.contains("| CPU \\ memory | node 0 | node 1 |"), "{md}");
        let lat_rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| node ")).collect();
        assert_eq!(lat_rows.len(), 4, "{md}");
        // Bandwidth of c1 was not measured: a dash, not a zero.
        assert!(lat_rows[3].contains(" - "), "{md}");
        assert!(!md.contains("One NUMA node"));
        let one = NumaMatrix::from_metrics([("mem.numa.c0m0.ns_per_load", 80.0)]).unwrap();
        assert!(one.markdown().contains("One NUMA node"));
    }

    #[test]
    fn html_shades_the_best_cell_green_and_far_ones_red() {
        let h = two_nodes().html();
        assert!(h.contains("hsl(120,60%,85%)"), "{h}");
        // 90/180 = half as good: hue 60.
        assert!(h.contains("hsl(60,60%,85%)"), "{h}");
        assert_eq!(h.matches("<table").count(), 2);
    }
}
