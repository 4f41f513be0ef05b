use super::*;
use crowsnest_core::{ManualClock, Timestamp};

const INTERVAL: Duration = Duration::from_secs(1);

fn fixture_manager() -> (Manager, Shared, ManualClock) {
    let root = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crowsnest-collect/tests/fixtures/v1"
    ));
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let shared = Shared::default();
    let config = AgentConfig {
        roots: crowsnest_collect::Roots {
            cgroup: root,
            ..Default::default()
        },
        inotify: false,
        housekeeping_interval: INTERVAL,
        ..AgentConfig::default()
    };
    let m = Manager::new(config, Arc::new(clock.clone()), shared.clone()).unwrap();
    (m, shared, clock)
}

fn late(shared: &Shared) -> u64 {
    shared
        .self_metrics()
        .housekeeping_late
        .load(Ordering::Relaxed)
}

#[test]
fn every_container_is_collected_once_per_interval_without_bursts() {
    let (mut m, shared, clock) = fixture_manager();
    let n = m.container_count();
    assert!(
        n >= 4,
        "fixture has /, /docker, /docker/<id>, /system.slice...: {n}"
    );
    let t0 = Instant::now();
    // New containers are due at once.
    assert_eq!(m.run_due(t0), n);
    // Nothing is due again before one interval has passed.
    assert_eq!(m.run_due(t0), 0);
    assert_eq!(m.run_due(t0 + INTERVAL / 2), 0);
    // After an interval plus the 10 % jitter bound, each is due exactly once.
    clock.advance_nanos(1_000_000_000);
    assert_eq!(m.run_due(t0 + INTERVAL.mul_f64(1.11)), n);
    assert_eq!(late(&shared), 0);
    // Far behind: each container runs once (missed ticks are skipped), and counts as late.
    clock.advance_nanos(1_000_000_000);
    let far = t0 + INTERVAL * 100;
    assert_eq!(m.run_due(far), n);
    assert_eq!(late(&shared), n as u64);
    assert_eq!(m.run_due(far), 0);
    // Three passes: three samples per container, stamped by the injected clock.
    let st = shared.read();
    for (name, c) in &st.containers {
        assert_eq!(c.history.len(), 3, "{name}");
        assert_eq!(
            c.history.latest().unwrap().timestamp,
            Timestamp::from_secs(1_700_000_002)
        );
    }
}

#[test]
fn a_removed_container_leaves_the_schedule() {
    let (mut m, shared, _clock) = fixture_manager();
    let t0 = Instant::now();
    let n = m.run_due(t0);
    m.remove("/system.slice/sshd.service");
    assert!(
        !shared
            .read()
            .containers
            .contains_key("/system.slice/sshd.service")
    );
    assert_eq!(m.run_due(t0 + INTERVAL * 2), n - 1);
    // Re-adding starts a new generation: its stale heap entry is skipped, so it is
    // collected once per interval, not twice.
    m.add("/system.slice/sshd.service");
    assert_eq!(m.run_due(t0 + INTERVAL * 2), 1);
    assert_eq!(m.run_due(t0 + INTERVAL * 4), n);
}

#[test]
fn near_the_open_file_limit_containers_are_read_without_held_descriptors() {
    const SSHD: &str = "/system.slice/sshd.service";
    let (mut m, shared, clock) = fixture_manager();
    m.housekeep_all();
    let held = m.tracked[SSHD].reader.held_fds();
    assert!(held >= 5, "a v1 container holds its files: {held}");
    let before = shared.read().containers[SSHD].history.latest().unwrap();
    m.remove(SSHD);
    m.fd_budget = m.held_total;
    m.add(SSHD);
    clock.advance_nanos(1_000_000_000);
    m.housekeep_all();
    assert_eq!(m.tracked[SSHD].reader.held_fds(), 0);
    let after = shared.read().containers[SSHD].history.latest().unwrap();
    assert_eq!(
        after.cpu, before.cpu,
        "the same values, read without held descriptors"
    );
    assert_eq!(after.memory, before.memory);
    // Room again: the next rescan holds them.
    m.fd_budget = usize::MAX;
    m.rescan();
    m.housekeep_all();
    assert_eq!(m.tracked[SSHD].reader.held_fds(), held);
}
