//! The latency-target search on the disk workload: building each step's
//! workers from what the steps before it published ([`super::sla`]), and
//! the search's metrics, curves and notes.

use std::sync::Arc;

use bench_core::hist::{new_hist, Hist};
use bench_core::result::{Better, Curve, Role};
use bench_core::workload::{RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput};
use bench_core::{Unit, WorkloadError};
use serde_json::json;

use super::engine::{self, DiskOutput};
use super::sla::{self, Observed, Setting, SlaConfig, StepKind};
use super::{DiskWorkload, Prepared};

/// A step the search skips: no I/O, nothing reported.
struct SkipWorker;

impl Worker for SkipWorker {
    fn run(&mut self, _ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        Ok(Box::new(DiskOutput::default()))
    }
}

/// `1 ms`, `250 µs`, `80 ns`: a latency for messages.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if v >= 1e9 {
        format!("{:.3} s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.3} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} µs", v / 1e3)
    } else {
        format!("{ns} ns")
    }
}

impl DiskWorkload {
    fn sla_prefix(&self) -> String {
        format!("{}.sla.", self.cfg.label())
    }

    /// The step's name in the plan and its kind.
    fn sla_step(&self, sl: &SlaConfig, step: &Step) -> Result<(String, StepKind), WorkloadError> {
        let name = step
            .label
            .strip_prefix(&self.sla_prefix())
            .unwrap_or(&step.label);
        sl.plan()
            .into_iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| {
                WorkloadError::Other(format!(
                    "step `{}` is not in the latency-target plan",
                    step.label
                ))
            })
    }

    /// The worker of one search step. Worker 0 decides the step's setting
    /// (the runner asks for it first, after the previous step finished);
    /// the others follow it.
    pub(super) fn sla_worker(
        &self,
        sl: &SlaConfig,
        p: &Arc<Prepared>,
        step: &Step,
        index: usize,
    ) -> Result<Box<dyn Worker>, WorkloadError> {
        let (name, kind) = self.sla_step(sl, step)?;
        let lock_err = || WorkloadError::Other("latency-target state poisoned".into());
        let mut settings = self.settings.lock().map_err(|_| lock_err())?;
        if index == 0 {
            if sl.plan().first().is_some_and(|(n, _)| *n == name) {
                // A new repetition: its search starts afresh.
                self.tap.clear();
                settings.clear();
            }
            let search = self.tap.search(sl, &settings);
            let setting = match kind {
                StepKind::Qd(d) => Setting::Run {
                    iodepth: d,
                    rate: None,
                },
                StepKind::Rate(_) => search.next_rate(sl.target_ns),
                StepKind::Hold => search.hold(sl.target_ns),
                StepKind::Verdict => {
                    if search.best(sl.target_ns).is_none() {
                        return Err(WorkloadError::Other(missed_message(sl, &search)));
                    }
                    Setting::Skip("verdict: the target was met")
                }
            };
            settings.insert(name.clone(), setting);
        }
        match settings.get(&name).copied() {
            Some(Setting::Run { iodepth, rate }) => {
                let mut cache = self.step_prepared.lock().map_err(|_| lock_err())?;
                let sp = if index == 0 {
                    let sp = Arc::new(p.for_step(iodepth, rate, Arc::clone(&self.tap), &name));
                    cache.insert(name.clone(), Arc::clone(&sp));
                    sp
                } else {
                    cache.get(&name).cloned().ok_or_else(lock_err)?
                };
                drop(cache);
                drop(settings);
                engine::new_worker(sp, index, step.threads)
            }
            Some(Setting::Skip(_)) => Ok(Box::new(SkipWorker)),
            None => Err(lock_err()),
        }
    }

    /// Metrics of a search: each step's IOPS and judged latency, the
    /// answer (`<rw>.iops_at_target` and the depth and rate that reached
    /// it), the knee of the depth sweep, the curves and a notes table.
    pub(super) fn sla_metrics(
        &self,
        sl: &SlaConfig,
        out: &mut RunOutput,
        steps: &[StepResult],
    ) -> Result<(), WorkloadError> {
        let label = self.cfg.label();
        let prefix = self.sla_prefix();
        let pn = sl.pct_name();
        let settings = self.settings.lock().map(|s| s.clone()).unwrap_or_default();
        let mut table: Vec<(f64, &str)> = vec![(50.0, "p50"), (sl.percentile, pn.as_str())];
        if sl.percentile < 99.9 {
            table.push((99.9, "p99_9"));
        }
        table.sort_by(|a, b| a.0.total_cmp(&b.0));
        table.dedup_by(|a, b| a.1 == b.1);
        let mut observed = Vec::new();
        let mut rows = Vec::new();
        for s in steps {
            let name = s.step.label.strip_prefix(&prefix).unwrap_or(&s.step.label);
            let Some((_, kind)) = sl.plan().into_iter().find(|(n, _)| n == name) else {
                continue;
            };
            match settings.get(name) {
                Some(Setting::Run { iodepth, rate }) => {
                    let judged = judged_hist(s, rate.is_some());
                    let lat = if judged.is_empty() {
                        0
                    } else {
                        judged.value_at_quantile(sl.percentile / 100.0)
                    };
                    let o = Observed {
                        name: name.to_string(),
                        kind,
                        iodepth: *iodepth,
                        rate: *rate,
                        iops: s.ops_per_s(),
                        lat_ns: lat,
                        ops: s.ops,
                    };
                    let p = &s.step.label;
                    out.metric(format!("{p}.iops"), o.iops, Unit::OpsPerS, Better::Higher);
                    out.metric(
                        format!("{p}.iodepth"),
                        *iodepth as f64,
                        "requests",
                        Better::Higher,
                    );
                    if let Some(r) = rate {
                        out.metric(
                            format!("{p}.rate_iops"),
                            *r as f64,
                            Unit::OpsPerS,
                            Better::Higher,
                        );
                    }
                    out.latency_at(&format!("{p}.lat_ns"), &judged, &table);
                    out.metric(
                        format!("{p}.target_met"),
                        f64::from(u8::from(o.met(sl.target_ns))),
                        Unit::Bool,
                        Better::Higher,
                    );
                    out.series.push(bench_core::result::Series {
                        name: p.clone(),
                        points: s.series.clone(),
                    });
                    rows.push(json!({
                        "step": name,
                        "iodepth": iodepth,
                        "rate_iops": rate,
                        "iops": o.iops,
                        "lat_ns": lat,
                        "ios": s.ops,
                        "measured_s": s.elapsed_s,
                        "met": o.met(sl.target_ns),
                        "latency": if rate.is_some() { "response time from the intended start" } else { "completion latency" },
                    }));
                    observed.push(o);
                }
                Some(Setting::Skip(why)) if kind != StepKind::Verdict => {
                    rows.push(json!({ "step": name, "skipped": why }));
                }
                _ => {}
            }
        }
        let search = sla::Search { observed };
        // The depth sweep as curves, and its knee.
        let mut sweep: Vec<(u32, f64, u64)> = search
            .observed
            .iter()
            .filter(|o| matches!(o.kind, StepKind::Qd(_)) && o.ops > 0)
            .map(|o| (o.iodepth, o.iops, o.lat_ns))
            .collect();
        sweep.sort_by_key(|x| x.0);
        let lat_curve = format!("{prefix}lat_ns_vs_iops");
        let iops_curve = format!("{prefix}iops_vs_iodepth");
        if sweep.len() > 1 {
            let mut pts: Vec<[f64; 2]> = sweep.iter().map(|x| [x.1, x.2 as f64]).collect();
            pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
            out.curves.push(Curve {
                name: lat_curve.clone(),
                x_unit: Unit::OpsPerS.as_str().into(),
                y_unit: Unit::Ns.as_str().into(),
                log_x: false,
                log_y: true,
                points: pts,
            });
            out.curves.push(Curve {
                name: iops_curve.clone(),
                x_unit: "requests".into(),
                y_unit: Unit::OpsPerS.as_str().into(),
                log_x: true,
                log_y: false,
                points: sweep.iter().map(|x| [x.0 as f64, x.1]).collect(),
            });
        }
        let mut marks = serde_json::Map::new();
        let target_line = json!({ "label": format!("target {} ({pn})", fmt_ns(sl.target_ns)), "y": sl.target_ns });
        let knee = sla::knee(&sweep).map(|i| sweep[i]);
        if let Some((d, iops, lat)) = knee {
            out.metric(
                format!("{prefix}knee.iodepth"),
                d as f64,
                "requests",
                Better::Higher,
            );
            out.metric(
                format!("{prefix}knee.iops"),
                iops,
                Unit::OpsPerS,
                Better::Higher,
            );
            out.metric(
                format!("{prefix}knee.lat_ns"),
                lat as f64,
                Unit::Ns,
                Better::Lower,
            );
            let label = format!("knee: qd {d}");
            marks.insert(
                lat_curve.clone(),
                json!([{ "label": label, "x": iops, "y": lat }, target_line]),
            );
            marks.insert(
                iops_curve.clone(),
                json!([{ "label": label, "x": d, "y": iops }]),
            );
        }
        if sweep.len() > 1 {
            out.notes
                .insert("curve_marks".into(), serde_json::Value::Object(marks));
        }
        let best = search.best(sl.target_ns).cloned();
        let met = best.is_some();
        let mut answer = serde_json::Value::Null;
        if let Some(b) = &best {
            let mut m = bench_core::result::Metric::new(
                format!("{label}.iops_at_target"),
                b.iops,
                Unit::OpsPerS,
                Better::Higher,
            );
            m.role = Some(Role::Headline);
            // The headline first: a workload's first metric leads its reports.
            out.metrics.insert(0, m);
            out.metric(
                format!("{label}.iodepth_at_target"),
                b.iodepth as f64,
                "requests",
                Better::Higher,
            );
            if let Some(r) = b.rate {
                out.metric(
                    format!("{label}.rate_iops_at_target"),
                    r as f64,
                    Unit::OpsPerS,
                    Better::Higher,
                );
            }
            out.metric(
                format!("{label}.lat_ns_at_target.{pn}"),
                b.lat_ns as f64,
                Unit::Ns,
                Better::Lower,
            );
            answer = json!({ "step": b.name, "iodepth": b.iodepth, "rate_iops": b.rate, "iops": b.iops, "lat_ns": b.lat_ns });
        }
        out.metric(
            format!("{prefix}target_met"),
            f64::from(u8::from(met)),
            Unit::Bool,
            Better::Higher,
        );
        if let Some(h) = search.observed.iter().find(|o| o.kind == StepKind::Hold) {
            out.metric(
                format!("{prefix}hold.target_met"),
                f64::from(u8::from(h.met(sl.target_ns))),
                Unit::Bool,
                Better::Higher,
            );
        }
        out.notes.insert(
            format!("{label}.sla"),
            json!({
                "target_ns": sl.target_ns,
                "percentile": sl.percentile,
                "window_s": sl.window.map(|w| w.as_secs_f64()),
                "search": sl.mode.as_str(),
                "qd_max": sl.qd_max,
                "rate_steps": sl.rate_steps,
                "latency_run": sl.hold,
                "met": met,
                "answer": answer,
                "verdict": if met { "met".to_string() } else { missed_message(sl, &search) },
                "knee": knee.map(|(d, i, l)| json!({ "iodepth": d, "iops": i, "lat_ns": l })),
                "knee_definition": "the depth of the sweep with the highest IOPS / latency (Kleinrock's power of a queue); ties go to the shallower depth",
                "judged": format!("{pn} of the completion latency in depth steps, of the response time from each I/O's intended start in paced steps (coordinated omission); a paced step must also achieve {}% of its rate", (sla::RATE_ACHIEVED * 100.0).round()),
                "steps": rows,
            }),
        );
        Ok(())
    }
}

/// The judged latencies of a step: completion latency, or with a rate the
/// response time from the intended start (both directions of a mix).
fn judged_hist(s: &StepResult, paced: bool) -> Hist {
    if !paced {
        return s.merged.clone();
    }
    let mut h = new_hist();
    for n in [
        engine::AUX_RESP,
        engine::AUX_READ_RESP,
        engine::AUX_WRITE_RESP,
    ] {
        if let Some(x) = s.merged_aux(n) {
            let _ = h.add(&x);
        }
    }
    h
}

/// Why the run fails when no step met the target.
fn missed_message(sl: &SlaConfig, search: &sla::Search) -> String {
    let pn = sl.pct_name();
    let lowest = search
        .observed
        .iter()
        .filter(|o| o.ops > 0)
        .min_by_key(|o| o.lat_ns);
    let qd1 = search.observed.iter().find(|o| o.kind == StepKind::Qd(1));
    let mut msg = format!(
        "latency target not met: no step kept {pn} latency at or under {}",
        fmt_ns(sl.target_ns)
    );
    if let Some(o) = qd1 {
        msg.push_str(&format!(
            "; even iodepth 1 had {pn} {} at {:.0} IOPS",
            fmt_ns(o.lat_ns),
            o.iops
        ));
    }
    if let Some(o) = lowest {
        msg.push_str(&format!(
            "; the lowest was {} (step {}{})",
            fmt_ns(o.lat_ns),
            o.name,
            o.rate
                .map(|r| format!(", paced at {r} IOPS"))
                .unwrap_or_default()
        ));
    }
    if search.observed.iter().all(|o| o.ops == 0) {
        msg.push_str("; no step measured any I/O");
    }
    msg
}
