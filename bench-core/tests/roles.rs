//! Metric roles: the rules every result file's roles come from.

use bench_core::result::{assign_roles, Better, Metric, Role};

#[test]
fn headline_secondary_and_explanatory_by_name() {
    let h = |n: &str, u: &str| Role::of(n, u);
    assert_eq!(h("cpu.int.ops_per_s", "ops/s"), Role::Headline);
    assert_eq!(h("cpu.int.ops_per_s_per_thread", "ops/s"), Role::Secondary);
    assert_eq!(h("disk.randread.iops", "ops/s"), Role::Headline);
    assert_eq!(h("disk.randrw.write.iops", "ops/s"), Role::Headline);
    assert_eq!(h("disk.randread.lat_ns.p50", "ns"), Role::Headline);
    assert_eq!(h("disk.randread.lat_ns.p99", "ns"), Role::Secondary);
    assert_eq!(h("disk.randread.lat_ns.max", "ns"), Role::Explanatory);
    assert_eq!(h("disk.randread.dev.util_pct", "%"), Role::Explanatory);
    assert_eq!(h("null.ops_per_s", "ops/s"), Role::Explanatory);
    assert_eq!(h("null.lat_ns.p50", "ns"), Role::Headline);
    assert_eq!(
        h("disk.randread.sched.runq_wait_ratio", "ratio"),
        Role::Explanatory
    );
    assert_eq!(
        h("disk.randread.ebpf.block.vda.lat_ns.p50", "ns"),
        Role::Explanatory
    );
    assert_eq!(
        h("net.tcp_rr.transactions_per_s", "transactions/s"),
        Role::Headline
    );
    assert_eq!(
        h("net.tcp_stream.client.cpu_busy_ratio", "ratio"),
        Role::Explanatory
    );
    assert_eq!(
        h("net.tcp_stream.client.tcp.retransmits", "count"),
        Role::Explanatory
    );
    assert_eq!(h("mem.stream.triad.bytes_per_s", "bytes/s"), Role::Headline);
    assert_eq!(
        h("mem.stream.triad.median_bytes_per_s", "bytes/s"),
        Role::Secondary
    );
    assert_eq!(h("mem.latency.dram.ns_per_load", "ns"), Role::Headline);
    assert_eq!(h("mem.latency.l2.ns_per_load", "ns"), Role::Headline);
    assert_eq!(h("mem.latency.s64m.ns_per_load", "ns"), Role::Secondary);
    assert_eq!(h("mem.pagefault.faults_per_s", "faults/s"), Role::Headline);
    assert_eq!(h("mem.pagefault.ops_per_s", "ops/s"), Role::Secondary);
    assert_eq!(h("jitter.wake_lat_ns.p50", "ns"), Role::Headline);
    assert_eq!(h("jitter.vcpu0.wake_lat_ns.p99", "ns"), Role::Secondary);
}

#[test]
fn a_run_without_a_headline_gets_its_first_gating_metric() {
    let mut m = vec![
        Metric::new("x.cpu_busy_ratio", 0.5, "ratio", Better::Lower),
        Metric::new("x.thing.score", 1.0, "points", Better::Higher),
        Metric::new("x.thing.other", 1.0, "points", Better::Higher),
    ];
    assert_eq!(m[1].role(), Role::Secondary);
    assign_roles(&mut m);
    let roles: Vec<Role> = m.iter().map(|m| m.role()).collect();
    assert_eq!(
        roles,
        vec![Role::Explanatory, Role::Headline, Role::Secondary]
    );
    // A role in the file wins over the rules.
    let mut k = vec![Metric {
        role: Some(Role::Explanatory),
        ..Metric::new("cpu.int.ops_per_s", 1.0, "ops/s", Better::Higher)
    }];
    assign_roles(&mut k);
    assert_eq!(k[0].role(), Role::Explanatory);
}
