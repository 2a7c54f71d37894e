// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// skubench's eBPF attribution: block I/O latency (issue -> completion, as
// biolatency measures it), run-queue latency (wakeup or preemption -> on a
// CPU, as runqlat measures it) and TCP smoothed RTT (per received segment,
// as tcprtt measures it), each as a log-linear histogram (32 sub-buckets per
// power of two: a bucket is at most 1/32 wide, so a percentile read from it
// is within 1.6% of the exact one).
//
// Classic tracepoints, no CO-RE: each field's offset in the tracepoint
// record is read by the loader from tracefs (events/*/format) and set as a
// read-only global before load, so the same object runs on every kernel
// whose tracepoints have the fields, whatever their layout.
//
// Build: bench-core/ebpf/build.sh (clang -target bpf). The object is
// committed beside this file, so building skubench needs no clang.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_ANY = 0,
};

// Log-linear buckets: (63 - 4) * 32 + 32.
#define BUCKETS 1920

static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;

// Field offsets, set by the loader from tracefs.
const volatile __u32 bio_issue_dev = 8;
const volatile __u32 bio_issue_sector = 16;
const volatile __u32 bio_done_dev = 8;
const volatile __u32 bio_done_sector = 16;
const volatile __u32 sw_prev_pid = 24;
const volatile __u32 sw_prev_state = 32;
const volatile __u32 sw_next_pid = 56;
const volatile __u32 wake_pid = 24;
const volatile __u32 probe_srtt = 100;
// For the raw block tracepoints, member offsets from kernel BTF: the
// request's first hop to its disk (`request.q`, or `request.rq_disk` on
// kernels before 5.16), then `request_queue.disk` (NO_HOP when the first
// hop is the disk already), then `gendisk.major` and `.first_minor`.
#define NO_HOP 0xffffffff
const volatile __u32 rq_hop1 = 0;
const volatile __u32 rq_hop2 = NO_HOP;
const volatile __u32 disk_major = 0;
const volatile __u32 disk_minor = 0;
// `request.io_start_time_ns`: the block layer's own issue time, which
// blk_mq_start_request writes right after the block_rq_issue tracepoint
// whenever the queue keeps I/O statistics (writeback throttling, on by
// default, or blk-iolatency). It lets one program at completion time do
// what biolatency does with two and a hash map.
const volatile __u32 rq_io_start = 0;
// Non-zero: the stamp program takes every request as unstamped, as on a
// queue that keeps no statistics (a kernel without writeback throttling),
// so its fallback to the issue + completion pair can be tested on any
// kernel (Ebpf::open_unstamped). A read-only global: the verifier drops
// the branch it does not take.
const volatile __u32 stamp_ignored = 0;

struct bio_key {
	__u32 dev;
	__u32 pad;
	__u64 sector;
};

// Histogram key: which series (device number, or 0) and bucket.
struct hist_key {
	__u32 id;
	__u32 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bio_key);
	__type(value, __u64);
} bio_start SEC(".maps");

// Issue time by request pointer (the raw tracepoints' key: no record is
// built, and a request is in flight at most once).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} rq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} runq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hist_key);
	__type(value, __u64);
} bio_hist SEC(".maps");

// The raw block programs' histogram: per CPU (completions arrive on every
// CPU that takes the device's interrupts), so a count is a plain add with
// no shared cache line; summed by the loader.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hist_key);
	__type(value, __u64);
} rq_hist SEC(".maps");

// Completions rq_done_stamp saw without an issue time (a queue that keeps
// no I/O statistics): the loader falls back to the two-program form.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rq_unstamped SEC(".maps");

// Single-series histograms on the hottest paths (every context switch,
// every received segment): a per-CPU array indexed by bucket, so a count is
// one array lookup and a plain add, no hashing and no shared cache line.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} runq_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} rtt_hist SEC(".maps");

// floor(log2(v)) for v > 0, branch-light (BPF has no clz).
static __attribute__((always_inline)) __u32 log2u64(__u64 v)
{
	__u32 r = 0, s;
	s = (v > 0xFFFFFFFFULL) << 5; v >>= s; r |= s;
	s = (v > 0xFFFF) << 4; v >>= s; r |= s;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	r |= (v >> 1);
	return r;
}

// Log-linear bucket: exact below 32, then 32 sub-buckets per power of two.
static __attribute__((always_inline)) __u32 bucket_of(__u64 v)
{
	if (v < 32)
		return (__u32)v;
	__u32 m = log2u64(v);
	return (m - 4) * 32 + (__u32)((v >> (m - 5)) & 31);
}

static __attribute__((always_inline)) void count(void *hist, __u32 id, __u64 v)
{
	struct hist_key k = { .id = id, .bucket = bucket_of(v) };
	__u64 one = 1, *n = bpf_map_lookup_elem(hist, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(hist, &k, &one, BPF_ANY);
}

// As `count`, into a per-CPU hash: no atomic needed.
static __attribute__((always_inline)) void count_local(void *hist, __u32 id, __u64 v)
{
	struct hist_key k = { .id = id, .bucket = bucket_of(v) };
	__u64 one = 1, *n = bpf_map_lookup_elem(hist, &k);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(hist, &k, &one, BPF_ANY);
}

static __attribute__((always_inline)) void count_percpu(void *hist, __u64 v)
{
	__u32 b = bucket_of(v);
	__u64 *n = bpf_map_lookup_elem(hist, &b);
	if (n)
		*n += 1;
}

// Reads of the record at an offset known only at load time: the verifier
// allows a tracepoint context only at immediate offsets, so through the
// helper (a direct load at `ctx + off` is refused as a modified ctx pointer).
static __attribute__((always_inline)) __u64 read_u64(void *ctx, __u32 off)
{
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx + off);
	return v;
}

static __attribute__((always_inline)) __u32 read_u32(void *ctx, __u32 off)
{
	__u32 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx + off);
	return v;
}

SEC("tracepoint/block/block_rq_issue")
int bio_issue(void *ctx)
{
	struct bio_key k = {
		.dev = read_u32(ctx, bio_issue_dev),
		.sector = read_u64(ctx, bio_issue_sector),
	};
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&bio_start, &k, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int bio_done(void *ctx)
{
	struct bio_key k = {
		.dev = read_u32(ctx, bio_done_dev),
		.sector = read_u64(ctx, bio_done_sector),
	};
	__u64 *ts = bpf_map_lookup_elem(&bio_start, &k);
	if (!ts)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (now > *ts)
		count(&bio_hist, k.dev, now - *ts);
	bpf_map_delete_elem(&bio_start, &k);
	return 0;
}

// The raw tracepoints of the block layer: the same span as bio_issue and
// bio_done (the driver is handed the request -> it completes), but the
// kernel builds no trace record and the program reads no field until the
// completion, where three dependent loads find the device number as the
// classic tracepoint's `dev` (MKDEV(major, first_minor), 20 minor bits).
// On a fast device at high IOPS this is the difference that keeps the
// tracer's cost under the project's 2% floor (docs/benchmarks.md).
struct raw_args {
	__u64 args[1];
};

SEC("raw_tracepoint/block_rq_issue")
int rq_issue_raw(struct raw_args *ctx)
{
	__u64 rq = ctx->args[0];
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&rq_start, &rq, &ts, BPF_ANY);
	return 0;
}

// The last queue (or disk) a CPU completed a request of, and its device
// number: completions come in runs from one device, so most find it here
// with one read instead of four.
struct dev_cache {
	__u64 hop;
	__u32 dev;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dev_cache);
} rq_devcache SEC(".maps");

// The request's device number as the classic tracepoint's `dev`.
static __attribute__((always_inline)) __u32 rq_dev(__u64 rq)
{
	__u64 hop = 0, p;
	__u32 major = 0, minor = 0, z = 0;
	bpf_probe_read_kernel(&hop, sizeof(hop), (void *)(rq + rq_hop1));
	struct dev_cache *c = bpf_map_lookup_elem(&rq_devcache, &z);
	if (c && hop && c->hop == hop)
		return c->dev;
	p = hop;
	if (p && rq_hop2 != NO_HOP)
		bpf_probe_read_kernel(&p, sizeof(p), (void *)(p + rq_hop2));
	if (p) {
		bpf_probe_read_kernel(&major, sizeof(major), (void *)(p + disk_major));
		bpf_probe_read_kernel(&minor, sizeof(minor), (void *)(p + disk_minor));
	}
	__u32 dev = (major << 20) | (minor & 0xfffff);
	if (c && p) {
		c->hop = hop;
		c->dev = dev;
	}
	return dev;
}

SEC("raw_tracepoint/block_rq_complete")
int rq_done_raw(struct raw_args *ctx)
{
	__u64 rq = ctx->args[0];
	__u64 *ts = bpf_map_lookup_elem(&rq_start, &rq);
	if (!ts)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 start = *ts;
	bpf_map_delete_elem(&rq_start, &rq);
	if (now > start)
		count_local(&rq_hist, rq_dev(rq), now - start);
	return 0;
}

// One program per I/O instead of two, and no map of requests in flight:
// the issue time is the block layer's own (see rq_io_start).
SEC("raw_tracepoint/block_rq_complete")
int rq_done_stamp(struct raw_args *ctx)
{
	__u64 rq = ctx->args[0];
	__u64 start = 0;
	bpf_probe_read_kernel(&start, sizeof(start), (void *)(rq + rq_io_start));
	if (!start || stamp_ignored) {
		__u32 z = 0;
		__u64 *n = bpf_map_lookup_elem(&rq_unstamped, &z);
		if (n)
			*n += 1;
		return 0;
	}
	__u64 now = bpf_ktime_get_ns();
	if (now > start)
		count_local(&rq_hist, rq_dev(rq), now - start);
	return 0;
}

static __attribute__((always_inline)) void runq_enqueued(__u32 pid)
{
	if (pid == 0)
		return;
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&runq_start, &pid, &ts, BPF_ANY);
}

SEC("tracepoint/sched/sched_wakeup")
int runq_wakeup(void *ctx)
{
	runq_enqueued(read_u32(ctx, wake_pid));
	return 0;
}

SEC("tracepoint/sched/sched_wakeup_new")
int runq_wakeup_new(void *ctx)
{
	runq_enqueued(read_u32(ctx, wake_pid));
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int runq_switch(void *ctx)
{
	// A task switched out while runnable (preempted, or yielded) waits
	// on the run queue from now. The tracepoint reports a preempted task
	// as TASK_REPORT_MAX (no sleep-state bit in the low byte).
	__u64 state = read_u64(ctx, sw_prev_state);
	if ((state & 0xff) == 0)
		runq_enqueued(read_u32(ctx, sw_prev_pid));
	__u32 next = read_u32(ctx, sw_next_pid);
	if (next == 0)
		return 0;
	__u64 *ts = bpf_map_lookup_elem(&runq_start, &next);
	if (!ts)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (now > *ts)
		count_percpu(&runq_hist, now - *ts);
	bpf_map_delete_elem(&runq_start, &next);
	return 0;
}

SEC("tracepoint/tcp/tcp_probe")
int tcp_rtt(void *ctx)
{
	// srtt in the record is in µs (tp->srtt_us >> 3); histograms are ns.
	__u32 srtt = read_u32(ctx, probe_srtt);
	if (srtt)
		count_percpu(&rtt_hist, (__u64)srtt * 1000);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
