//! vCPU discovery and thread pinning (`sched_setaffinity`).

use crate::error::SpecError;
use crate::params::Params;

/// The vCPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let v: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect();
            if !v.is_empty() {
                return v;
            }
        }
    }
    (0..online_vcpus()).collect()
}

/// The `pin` parameter of a workload (vCPUs to pin workers to), every
/// entry checked against `allowed` (usually [`allowed_cpus`]), so a vCPU
/// that does not exist or is outside this process's affinity mask is a
/// spec error naming the key before anything runs. `None` when unset.
pub fn pin_param(p: &Params, allowed: &[usize]) -> Result<Option<Vec<usize>>, SpecError> {
    let Some(list) = p.list("pin") else {
        return Ok(None);
    };
    let mut pins = Vec::with_capacity(list.len());
    for c in list {
        match usize::try_from(c) {
            Ok(c) if allowed.contains(&c) => pins.push(c),
            _ => {
                return Err(SpecError::new(
                    "pin",
                    format!(
                    "key `pin`: vCPU {c} is not available to this process (allowed: {allowed:?})"
                ),
                ))
            }
        }
    }
    Ok(Some(pins))
}

/// Number of online vCPUs.
pub fn online_vcpus() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Pins the calling thread to one vCPU.
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("vCPU {cpu} is beyond CPU_SETSIZE"),
        ));
    }
    // SAFETY: as above; the set is fully initialised before use.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The vCPU the calling thread is running on right now.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    (c >= 0).then_some(c as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_moves_the_thread() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        let last = *cpus.last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(last).unwrap();
            assert_eq!(current_cpu(), Some(last));
        })
        .join()
        .unwrap();
        assert!(pin_current_thread(1 << 20).is_err());
    }
}
