//! The host fingerprint: what machine a result came from.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Facts about the measuring host, recorded in every result file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// VM size / SKU name (from `--sku`, `SKUBENCH_SKU`, or metadata when asked).
    pub sku: Option<String>,
    /// Host name.
    pub hostname: String,
    /// Distro ID from /etc/os-release (`debian`, `ubuntu` …).
    pub distro: String,
    /// Distro VERSION_ID.
    pub distro_version: String,
    /// PRETTY_NAME.
    pub distro_pretty: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Machine architecture.
    pub arch: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Online vCPUs.
    pub vcpus: usize,
    /// Total memory, bytes.
    pub memory_bytes: u64,
    /// Hypervisor as far as the guest can tell (`kvm`, `microsoft`, `none` …):
    /// the CPUID hypervisor leaf, else /sys/hypervisor, else DMI.
    pub hypervisor: String,
    /// DMI system vendor / product, when readable.
    pub system: String,
    /// Kernel clock source.
    pub clocksource: String,
    /// Clock the runner timed with (`tsc` or `monotonic`).
    pub timer: String,
    /// Boot id: two results with the same one come from the same boot.
    pub boot_id: String,
    /// Last-level cache size, bytes, from /sys (0 when unknown).
    pub llc_bytes: u64,
    /// Transparent huge pages mode.
    pub thp: String,
    /// Cloud region, when discovered from instance metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// OS image, when discovered from instance metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// NUMA nodes in node order; one node when the kernel lists none.
    /// Empty in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numa: Vec<NumaNode>,
}

/// One NUMA node of the host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumaNode {
    /// Node number (`nodeN` in /sys).
    pub node: u32,
    /// The node's vCPUs as the kernel lists them (`0-3,8-11`); empty for a
    /// memory-only node.
    pub cpus: String,
    /// Memory on the node, bytes (0 when unknown).
    pub memory_bytes: u64,
    /// The node's distance to every node in node order, as the firmware's
    /// SLIT reports it in `nodeN/distance` (10 = local). Empty when
    /// unknown, and in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distances: Vec<u32>,
}

/// Parses a `nodeN/distance` line (`10 21`); `None` when any field is not
/// a number or there are more than 4096.
pub fn parse_node_distances(text: &str) -> Option<Vec<u32>> {
    let v: Option<Vec<u32>> = text.split_whitespace().map(|t| t.parse().ok()).collect();
    v.filter(|v| v.len() <= 4096)
}

fn read_trim(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Parses `/etc/os-release` text into (ID, VERSION_ID, PRETTY_NAME).
pub fn parse_os_release(text: &str) -> (String, String, String) {
    let mut id = String::new();
    let mut ver = String::new();
    let mut pretty = String::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => id = v,
            "VERSION_ID" => ver = v,
            "PRETTY_NAME" => pretty = v,
            _ => {}
        }
    }
    (id, ver, pretty)
}

fn uname() -> (String, String, String) {
    // SAFETY: utsname is plain data; uname fills it with NUL-terminated strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return Default::default();
        }
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        (s(&u.release), s(&u.machine), s(&u.nodename))
    }
}

/// The largest cache size listed for cpu0 in /sys (the last level).
pub fn llc_bytes() -> u64 {
    let mut best = 0;
    for i in 0..8 {
        let p = format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size");
        let Ok(s) = std::fs::read_to_string(&p) else {
            break;
        };
        if let Ok(b) = crate::units::parse_size(s.trim()) {
            best = best.max(b);
        }
    }
    best
}

/// The last-level caches of all CPUs together: for each CPU the highest-level
/// data or unified cache in /sys, each instance (its `shared_cpu_list`)
/// counted once. On a machine with one LLC this is `llc_bytes()`; on several
/// sockets, NUMA nodes or chiplets it is their sum, which STREAM's sizing rule
/// ("each array ≥ 4 × the sum of the last-level caches used") needs. Falls
/// back to `llc_bytes()` when /sys lists no caches per CPU.
pub fn llc_total_bytes() -> u64 {
    let mut caches = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return llc_bytes();
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("cpu")
            || !name[3..].chars().all(|c| c.is_ascii_digit())
            || name.len() == 3
        {
            continue;
        }
        for i in 0..8 {
            let d = e.path().join(format!("cache/index{i}"));
            let read = |f: &str| std::fs::read_to_string(d.join(f)).map(|s| s.trim().to_string());
            let Ok(level) = read("level") else { break };
            let (Ok(kind), Ok(size), Ok(shared)) =
                (read("type"), read("size"), read("shared_cpu_list"))
            else {
                continue;
            };
            caches.push(CacheEntry {
                level: level.parse().unwrap_or(0),
                data: kind != "Instruction",
                bytes: crate::units::parse_size(&size).unwrap_or(0),
                shared_cpus: shared,
                cpu: name[3..].parse().unwrap_or(0),
            });
        }
    }
    match sum_last_level(&caches) {
        0 => llc_bytes(),
        b => b,
    }
}

/// One cache of one CPU as /sys lists it (for `sum_last_level`).
#[derive(Clone, Debug)]
pub struct CacheEntry {
    /// The CPU whose cache directory listed it.
    pub cpu: usize,
    /// 1, 2, 3 …
    pub level: u32,
    /// Data or unified (not an instruction cache).
    pub data: bool,
    /// Its size.
    pub bytes: u64,
    /// The CPUs that share it (`shared_cpu_list`): one instance per value.
    pub shared_cpus: String,
}

/// The sum of the distinct last-level caches: per CPU its highest-level data
/// cache, each instance (by `shared_cpus`) once.
pub fn sum_last_level(caches: &[CacheEntry]) -> u64 {
    let mut top: std::collections::BTreeMap<usize, &CacheEntry> = Default::default();
    for c in caches.iter().filter(|c| c.data) {
        let e = top.entry(c.cpu).or_insert(c);
        if c.level > e.level {
            *e = c;
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    for c in top.values() {
        seen.entry(c.shared_cpus.clone()).or_insert(c.bytes);
    }
    seen.values().sum()
}

/// What CPUID says about a hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuidHypervisor {
    /// Not an x86 CPU: CPUID cannot tell.
    Unavailable,
    /// Leaf 1 ECX bit 31 is clear: no hypervisor says it is there.
    Absent,
    /// The bit is set; the vendor signature of leaf 0x40000000 (EBX, ECX,
    /// EDX), or of 0x40000100 when KVM sits behind Hyper-V enlightenments.
    Present([u8; 12]),
}

/// Reads the hypervisor bit and vendor leaf of this CPU.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub fn cpuid_hypervisor() -> CpuidHypervisor {
    #[cfg(target_arch = "x86")]
    use core::arch::x86::__cpuid;
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::__cpuid;
    if __cpuid(1).ecx & (1 << 31) == 0 {
        return CpuidHypervisor::Absent;
    }
    let signature = |leaf: u32| {
        let r = __cpuid(leaf);
        let mut sig = [0u8; 12];
        sig[..4].copy_from_slice(&r.ebx.to_le_bytes());
        sig[4..8].copy_from_slice(&r.ecx.to_le_bytes());
        sig[8..].copy_from_slice(&r.edx.to_le_bytes());
        sig
    };
    let base = signature(0x4000_0000);
    // KVM offering Hyper-V enlightenments shows Hyper-V's signature at the
    // base leaf and its own 0x100 higher.
    if hypervisor_vendor(&base) == Some("microsoft") {
        let alt = signature(0x4000_0100);
        if hypervisor_vendor(&alt) == Some("kvm") {
            return CpuidHypervisor::Present(alt);
        }
    }
    CpuidHypervisor::Present(base)
}

/// Reads the hypervisor bit and vendor leaf of this CPU.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
pub fn cpuid_hypervisor() -> CpuidHypervisor {
    CpuidHypervisor::Unavailable
}

/// The hypervisor a CPUID vendor signature names, if it is a known one.
pub fn hypervisor_vendor(signature: &[u8]) -> Option<&'static str> {
    // Signatures are padded with NULs (KVM) or spaces (bhyve) to 12 bytes.
    let end = signature
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    Some(match &signature[..end] {
        b"KVMKVMKVM" => "kvm",
        b"Microsoft Hv" => "microsoft",
        b"VMwareVMware" => "vmware",
        b"XenVMMXenVMM" => "xen",
        b"TCGTCGTCGTCG" => "qemu-tcg",
        b"ACRNACRNACRN" => "acrn",
        b"bhyve bhyve" => "bhyve",
        b"QNXQVMBSQG" => "qnx",
        _ => return None,
    })
}

/// The DMI identity strings of the machine (empty where not readable:
/// no DMI on most ARM guests, or /sys not mounted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dmi {
    /// `sys_vendor`, e.g. `Microsoft Corporation`, `Amazon EC2`, `Google`.
    pub sys_vendor: String,
    /// `product_name`, e.g. `Virtual Machine`, `m5.large`.
    pub product_name: String,
    /// `board_vendor`.
    pub board_vendor: String,
}

impl Dmi {
    /// Reads /sys/class/dmi/id.
    pub fn read() -> Self {
        Self::read_from(Path::new("/sys/class/dmi/id"))
    }

    /// Reads the DMI files under `dir`.
    pub fn read_from(dir: &Path) -> Self {
        let get = |name: &str| read_trim(dir.join(name));
        Self {
            sys_vendor: get("sys_vendor"),
            product_name: get("product_name"),
            board_vendor: get("board_vendor"),
        }
    }

    /// The hypervisor or cloud the DMI strings name, if any.
    pub fn hypervisor(&self) -> Option<&'static str> {
        let vendor = self.sys_vendor.to_ascii_lowercase();
        let product = self.product_name.to_ascii_lowercase();
        let board = self.board_vendor.to_ascii_lowercase();
        let either = |w: &str| vendor.contains(w) || board.contains(w);
        // Microsoft also makes hardware (Surface): only its VMs say so.
        if either("microsoft") && product.contains("virtual machine") {
            Some("microsoft")
        } else if either("amazon") {
            Some("amazon")
        } else if either("google") {
            Some("google")
        } else if vendor.contains("qemu") || product.contains("kvm") || product.contains("qemu") {
            Some("kvm")
        } else if either("vmware") {
            Some("vmware")
        } else if vendor.contains("xen") || product.contains("hvm domu") {
            Some("xen")
        } else if vendor.contains("innotek") || product.contains("virtualbox") {
            Some("virtualbox")
        } else {
            None
        }
    }

    /// `sys_vendor product_name`, as recorded in [`HostInfo::system`].
    pub fn system(&self) -> String {
        format!("{} {}", self.sys_vendor, self.product_name)
            .trim()
            .to_string()
    }
}

/// Names the hypervisor from what the guest can read: a known CPUID vendor
/// signature first (the hypervisor's own answer), then
/// /sys/hypervisor/type (`sys_type`, Xen), then DMI; a hypervisor bit (in
/// CPUID or the `flags` of `cpuinfo`) with none of those is `unknown`, and
/// no evidence at all is `none`.
pub fn hypervisor(cpuid: CpuidHypervisor, sys_type: &str, dmi: &Dmi, cpuinfo: &str) -> String {
    if let CpuidHypervisor::Present(sig) = cpuid {
        if let Some(name) = hypervisor_vendor(&sig) {
            return name.into();
        }
    }
    let sys_type = sys_type.trim();
    if !sys_type.is_empty() {
        return sys_type.into();
    }
    if let Some(name) = dmi.hypervisor() {
        return name.into();
    }
    let flagged = matches!(cpuid, CpuidHypervisor::Present(_))
        || cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == "hypervisor"));
    if flagged { "unknown" } else { "none" }.into()
}

/// The memory of a node from its `meminfo` text
/// (`Node 0 MemTotal:       16213788 kB`), bytes.
pub fn parse_node_meminfo(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        match (w.next(), w.next(), w.next(), w.next(), w.next()) {
            (Some("Node"), Some(_), Some("MemTotal:"), Some(kb), Some("kB")) => {
                kb.parse::<u64>().ok()?.checked_mul(1024)
            }
            _ => None,
        }
    })
}

/// The node number of a /sys/devices/system/node entry (`node3` → 3).
pub fn parse_node_name(name: &str) -> Option<u32> {
    let n = name.strip_prefix("node")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The NUMA nodes listed under `dir` (/sys/devices/system/node), in node
/// order; `None` when the directory cannot be read or lists no node.
pub fn numa_nodes_in(dir: &Path) -> Option<Vec<NumaNode>> {
    let mut nodes: Vec<NumaNode> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .take(1 << 16)
        .filter_map(|e| {
            let node = parse_node_name(e.file_name().to_str()?)?;
            let path = e.path();
            Some(NumaNode {
                node,
                cpus: read_trim(path.join("cpulist")),
                memory_bytes: std::fs::read_to_string(path.join("meminfo"))
                    .ok()
                    .and_then(|t| parse_node_meminfo(&t))
                    .unwrap_or(0),
                distances: std::fs::read_to_string(path.join("distance"))
                    .ok()
                    .and_then(|t| parse_node_distances(&t))
                    .unwrap_or_default(),
            })
        })
        .collect();
    nodes.sort_by_key(|n| n.node);
    (!nodes.is_empty()).then_some(nodes)
}

/// This host's NUMA nodes; without /sys/devices/system/node (a kernel
/// without NUMA), one node holding every online vCPU and all memory.
pub fn numa_nodes(online_cpus: &str, memory_bytes: u64) -> Vec<NumaNode> {
    numa_nodes_in(Path::new("/sys/devices/system/node")).unwrap_or_else(|| {
        vec![NumaNode {
            node: 0,
            cpus: online_cpus.trim().to_string(),
            memory_bytes,
            distances: Vec::new(),
        }]
    })
}

impl HostInfo {
    /// Reads the fingerprint of this host. `sku` overrides `SKUBENCH_SKU`.
    pub fn detect(sku: Option<String>, timer: &str) -> Self {
        let (distro, distro_version, distro_pretty) =
            parse_os_release(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
        let (kernel, arch, hostname) = uname();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024);
        let sku = sku
            .or_else(|| std::env::var("SKUBENCH_SKU").ok())
            .filter(|s| !s.trim().is_empty());
        let dmi = Dmi::read();
        let vcpus = crate::affinity::online_vcpus();
        let online = read_trim("/sys/devices/system/cpu/online");
        let online = match (online.is_empty(), vcpus) {
            (false, _) => online,
            (true, 0 | 1) => "0".to_string(),
            (true, n) => format!("0-{}", n - 1),
        };
        let thp = read_trim("/sys/kernel/mm/transparent_hugepage/enabled");
        let thp = thp
            .split_whitespace()
            .find(|w| w.starts_with('['))
            .map(|w| w.trim_matches(['[', ']']).to_string())
            .unwrap_or(thp);
        Self {
            sku,
            hostname,
            distro,
            distro_version,
            distro_pretty,
            kernel,
            arch,
            cpu_model,
            vcpus,
            memory_bytes,
            hypervisor: hypervisor(
                cpuid_hypervisor(),
                &read_trim("/sys/hypervisor/type"),
                &dmi,
                &cpuinfo,
            ),
            system: dmi.system(),
            clocksource: read_trim(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            ),
            timer: timer.to_string(),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            llc_bytes: llc_bytes(),
            thp,
            region: None,
            image: None,
            numa: numa_nodes(&online, memory_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_level_caches_of_two_sockets_add_up() {
        // Two sockets of 2 CPUs: private L1d/L2, one 16 MiB L3 per socket.
        let mut caches = Vec::new();
        for cpu in 0..4usize {
            let socket = if cpu < 2 { "0-1" } else { "2-3" };
            let own = cpu.to_string();
            for (level, data, bytes, shared) in [
                (1, true, 32 << 10, own.as_str()),
                (1, false, 32 << 10, own.as_str()),
                (2, true, 1 << 20, own.as_str()),
                (3, true, 16 << 20, socket),
            ] {
                caches.push(CacheEntry {
                    cpu,
                    level,
                    data,
                    bytes,
                    shared_cpus: shared.into(),
                });
            }
        }
        assert_eq!(sum_last_level(&caches), 32 << 20);
        // One socket: the one L3.
        let one: Vec<_> = caches.iter().filter(|c| c.cpu < 2).cloned().collect();
        assert_eq!(sum_last_level(&one), 16 << 20);
        assert_eq!(sum_last_level(&[]), 0);
    }

    #[test]
    fn os_release_parsing() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(
            parse_os_release(t),
            (
                "debian".into(),
                "12".into(),
                "Debian GNU/Linux 12 (bookworm)".into()
            )
        );
    }

    fn sig(s: &[u8]) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..s.len()].copy_from_slice(s);
        out
    }

    #[test]
    fn cpuid_signatures_name_their_hypervisor() {
        for (s, name) in [
            (&b"KVMKVMKVM\0\0\0"[..], "kvm"),
            (b"Microsoft Hv", "microsoft"),
            (b"VMwareVMware", "vmware"),
            (b"XenVMMXenVMM", "xen"),
            (b"TCGTCGTCGTCG", "qemu-tcg"),
            (b"ACRNACRNACRN", "acrn"),
            (b"bhyve bhyve ", "bhyve"),
            (b"QNXQVMBSQG\0\0", "qnx"),
        ] {
            assert_eq!(hypervisor_vendor(s), Some(name), "{s:?}");
        }
        assert_eq!(hypervisor_vendor(&[0; 12]), None);
        assert_eq!(hypervisor_vendor(b"KVMKVMKV\0\0\0\0"), None);
        assert_eq!(hypervisor_vendor(b"NotAHypervsr"), None);
    }

    #[test]
    fn dmi_names_clouds_and_hypervisors() {
        let dmi = |v: &str, p: &str, b: &str| Dmi {
            sys_vendor: v.into(),
            product_name: p.into(),
            board_vendor: b.into(),
        };
        let azure = dmi(
            "Microsoft Corporation",
            "Virtual Machine",
            "Microsoft Corporation",
        );
        assert_eq!(azure.hypervisor(), Some("microsoft"));
        assert_eq!(azure.system(), "Microsoft Corporation Virtual Machine");
        assert_eq!(
            dmi("Microsoft Corporation", "Surface Pro 9", "").hypervisor(),
            None
        );
        assert_eq!(
            dmi("Amazon EC2", "m7i.large", "Amazon EC2").hypervisor(),
            Some("amazon")
        );
        assert_eq!(dmi("", "", "Amazon EC2").hypervisor(), Some("amazon"));
        assert_eq!(
            dmi("Google", "Google Compute Engine", "Google").hypervisor(),
            Some("google")
        );
        assert_eq!(
            dmi("QEMU", "Standard PC (Q35 + ICH9, 2009)", "").hypervisor(),
            Some("kvm")
        );
        assert_eq!(dmi("Xen", "HVM domU", "").hypervisor(), Some("xen"));
        assert_eq!(
            dmi("Dell Inc.", "PowerEdge R750", "Dell Inc.").hypervisor(),
            None
        );
        assert_eq!(Dmi::default().hypervisor(), None);
        assert_eq!(Dmi::default().system(), "");
    }

    #[test]
    fn hypervisor_prefers_cpuid_then_sys_then_dmi() {
        let kvm = CpuidHypervisor::Present(sig(b"KVMKVMKVM"));
        let odd = CpuidHypervisor::Present(sig(b"SomethingNew"));
        let none = Dmi::default();
        let azure = Dmi {
            sys_vendor: "Microsoft Corporation".into(),
            product_name: "Virtual Machine".into(),
            board_vendor: String::new(),
        };
        let flags = "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n";
        // This KVM guest: no DMI, no /sys/hypervisor, the bit and the leaf.
        assert_eq!(hypervisor(kvm, "", &none, flags), "kvm");
        // The leaf wins over DMI (a cloud's KVM says who runs it in `system`).
        assert_eq!(hypervisor(kvm, "", &azure, ""), "kvm");
        assert_eq!(hypervisor(odd, "xen", &none, ""), "xen");
        assert_eq!(hypervisor(odd, "", &azure, ""), "microsoft");
        assert_eq!(hypervisor(odd, "", &none, ""), "unknown");
        // ARM guests have no CPUID: DMI, then the cpuinfo flag.
        let arm = CpuidHypervisor::Unavailable;
        assert_eq!(hypervisor(arm, "", &azure, ""), "microsoft");
        assert_eq!(hypervisor(arm, "", &none, flags), "unknown");
        assert_eq!(hypervisor(arm, "", &none, "flags\t: fpu\n"), "none");
        assert_eq!(hypervisor(CpuidHypervisor::Absent, "", &none, ""), "none");
    }

    #[test]
    fn numa_meminfo_and_node_names_parse() {
        let t = "Node 1 MemTotal:       16213788 kB\nNode 1 MemFree:         6076948 kB\n";
        assert_eq!(parse_node_meminfo(t), Some(16_213_788 * 1024));
        assert_eq!(parse_node_meminfo("Node 0 MemFree: 5 kB\n"), None);
        assert_eq!(parse_node_meminfo("Node 0 MemTotal: lots kB\n"), None);
        assert_eq!(parse_node_meminfo(""), None);
        assert_eq!(parse_node_name("node0"), Some(0));
        assert_eq!(parse_node_name("node12"), Some(12));
        for bad in ["node", "nodes", "node-1", "node+1", "possible", "has_cpu"] {
            assert_eq!(parse_node_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn numa_nodes_are_read_in_node_order() {
        let dir = tempfile::tempdir().unwrap();
        let node = |n: u32, cpus: &str, kb: u64| {
            let d = dir.path().join(format!("node{n}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("cpulist"), format!("{cpus}\n")).unwrap();
            std::fs::write(
                d.join("meminfo"),
                format!("Node {n} MemTotal: {kb} kB\nNode {n} MemFree: 1 kB\n"),
            )
            .unwrap();
        };
        node(10, "", 4);
        node(1, "4-7", 2);
        node(0, "0-3", 1);
        std::fs::write(dir.path().join("node0/distance"), "10 21 31\n").unwrap();
        std::fs::write(dir.path().join("node1/distance"), "21 10 oops\n").unwrap();
        std::fs::write(dir.path().join("online"), "0-1,10\n").unwrap();
        std::fs::create_dir(dir.path().join("power")).unwrap();
        let nodes = numa_nodes_in(dir.path()).unwrap();
        let seen: Vec<(u32, &str, u64)> = nodes
            .iter()
            .map(|n| (n.node, n.cpus.as_str(), n.memory_bytes))
            .collect();
        assert_eq!(seen, [(0, "0-3", 1024), (1, "4-7", 2048), (10, "", 4096)]);
        // Distances as the kernel lists them; unreadable ones are left out.
        assert_eq!(nodes[0].distances, [10, 21, 31]);
        assert!(nodes[1].distances.is_empty());
        assert!(nodes[2].distances.is_empty());
        assert_eq!(parse_node_distances("10 20\n"), Some(vec![10, 20]));
        assert_eq!(parse_node_distances("10 -1"), None);
        assert!(numa_nodes_in(&dir.path().join("absent")).is_none());
        let empty = tempfile::tempdir().unwrap();
        assert!(numa_nodes_in(empty.path()).is_none());
    }

    #[test]
    fn a_file_without_numa_still_reads() {
        let h = HostInfo::detect(None, "tsc");
        let mut v = serde_json::to_value(&h).unwrap();
        v.as_object_mut().unwrap().remove("numa");
        let back: HostInfo = serde_json::from_value(v).unwrap();
        assert!(back.numa.is_empty());
        let none = HostInfo::default();
        let v = serde_json::to_value(&none).unwrap();
        assert!(v.get("numa").is_none(), "{v}");
    }

    #[test]
    fn detect_reads_this_host() {
        let h = HostInfo::detect(Some("Test_SKU".into()), "tsc");
        assert_eq!(h.sku.as_deref(), Some("Test_SKU"));
        assert!(h.vcpus >= 1);
        assert!(h.memory_bytes > 0);
        assert!(!h.kernel.is_empty());
        assert_eq!(h.boot_id.len(), 36, "{}", h.boot_id);
        assert!(!h.numa.is_empty());
        assert!(
            h.numa.windows(2).all(|w| w[0].node < w[1].node),
            "{:?}",
            h.numa
        );
        // A guest that sets the CPUID hypervisor bit is never `none`.
        if matches!(cpuid_hypervisor(), CpuidHypervisor::Present(_)) {
            assert_ne!(h.hypervisor, "none");
        }
    }
}
