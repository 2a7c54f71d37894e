//! The host fingerprint: what machine a result came from.

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
    /// Hypervisor as far as the guest can tell (`kvm`, `microsoft`, `none` …).
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
}

fn read_trim(path: &str) -> String {
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

fn hypervisor(cpuinfo: &str) -> String {
    let t = read_trim("/sys/hypervisor/type");
    if !t.is_empty() {
        return t;
    }
    let vendor = read_trim("/sys/class/dmi/id/sys_vendor").to_ascii_lowercase();
    let product = read_trim("/sys/class/dmi/id/product_name").to_ascii_lowercase();
    let flagged = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "hypervisor"));
    if vendor.contains("microsoft") {
        "microsoft".into()
    } else if vendor.contains("amazon") {
        "amazon".into()
    } else if vendor.contains("google") {
        "google".into()
    } else if vendor.contains("qemu") || product.contains("kvm") || product.contains("qemu") {
        "kvm".into()
    } else if vendor.contains("vmware") {
        "vmware".into()
    } else if flagged {
        "unknown".into()
    } else {
        "none".into()
    }
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
        let system = format!(
            "{} {}",
            read_trim("/sys/class/dmi/id/sys_vendor"),
            read_trim("/sys/class/dmi/id/product_name")
        )
        .trim()
        .to_string();
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
            vcpus: crate::affinity::online_vcpus(),
            memory_bytes,
            hypervisor: hypervisor(&cpuinfo),
            system,
            clocksource: read_trim(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            ),
            timer: timer.to_string(),
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            llc_bytes: llc_bytes(),
            thp,
            region: None,
            image: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn detect_reads_this_host() {
        let h = HostInfo::detect(Some("Test_SKU".into()), "tsc");
        assert_eq!(h.sku.as_deref(), Some("Test_SKU"));
        assert!(h.vcpus >= 1);
        assert!(h.memory_bytes > 0);
        assert!(!h.kernel.is_empty());
        assert_eq!(h.boot_id.len(), 36, "{}", h.boot_id);
    }
}
