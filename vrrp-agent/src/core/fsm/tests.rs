    use super::testutil::*;
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn drain(i: &mut Instance) -> Vec<Action> {
        std::iter::from_fn(|| i.poll_action()).collect()
    }

    /// Start a non-owner and let its Master_Down_Timer fire: a Master at
    /// `t0 + down`, with the actions drained.
    fn make_master(p: Params, t0: Nanos) -> (Instance, Nanos) {
        let mut i = Instance::new(p);
        i.handle_startup(t0);
        let t = i
            .master_down_deadline()
            .expect("backup has a master down timer");
        i.handle_timeout(t);
        assert_eq!(i.state(), State::Master);
        drain(&mut i);
        (i, t)
    }

    // ---------------------------------------------------------------- timer maths

    /// The numbers in vrrp-notes.md and issue 6, hand-computed:
    /// v3 skew = floor((256 - p) * interval_us / 256), down = 3 * interval + skew;
    /// v2 skew = floor((256 - p) * 1e6 / 256) whatever the interval.
    #[test]
    fn timer_maths_in_exact_microseconds() {
        // (version, priority, interval cs, skew us, down us)
        let cases: &[(Version, u8, u16, u64, u64)] = &[
            // v3 at 10 ms: 90 and 80 time out 391 us apart (whole centiseconds gave both 0).
            (Version::V3, 90, 1, 6_484, 36_484),
            (Version::V3, 80, 1, 6_875, 36_875),
            (Version::V3, 100, 1, 6_093, 36_093),
            (Version::V3, 254, 1, 78, 30_078),
            (Version::V3, 255, 1, 39, 30_039),
            (Version::V3, 1, 1, 9_960, 39_960),
            // v3 at 100 ms: 90 and 80 got the same 6 cs before.
            (Version::V3, 90, 10, 64_843, 364_843),
            (Version::V3, 80, 10, 68_750, 368_750),
            // v3 at 1 s, 500 ms, and the largest interval.
            (Version::V3, 100, 100, 609_375, 3_609_375),
            (Version::V3, 90, 100, 648_437, 3_648_437),
            (Version::V3, 200, 100, 218_750, 3_218_750),
            (Version::V3, 90, 50, 324_218, 1_824_218),
            (Version::V3, 90, 4095, 26_553_515, 149_403_515),
            // v2: the skew does not depend on the interval.
            (Version::V2, 90, 100, 648_437, 3_648_437),
            (Version::V2, 90, 300, 648_437, 9_648_437),
            (Version::V2, 100, 100, 609_375, 3_609_375),
            (Version::V2, 200, 100, 218_750, 3_218_750),
            (Version::V2, 254, 100, 7_812, 3_007_812),
            (Version::V2, 255, 100, 3_906, 3_003_906),
            (Version::V2, 1, 100, 996_093, 3_996_093),
        ];
        for &(v, p, int, skew, down) in cases {
            assert_eq!(skew_time_us(v, p, int), skew, "skew {v:?} p={p} int={int}");
            assert_eq!(master_down_interval_us(v, p, int), down, "down {v:?} p={p} int={int}");
            let mut prm = params(p, 1);
            prm.version = v;
            prm.advert_int_cs = int;
            let i = Instance::new(prm);
            assert_eq!((i.skew_time_us(), i.master_down_interval_us()), (skew, down));
        }
    }

    #[test]
    fn adjacent_priorities_always_get_different_deadlines() {
        // The bug this replaces: whole-centisecond skews tied backups of different
        // priorities. In microseconds every priority step moves the deadline at 10 ms and up.
        for v in [Version::V2, Version::V3] {
            for int in [1u16, 10, 100, 4095] {
                for p in 1..254u8 {
                    assert!(
                        master_down_interval_us(v, p, int) > master_down_interval_us(v, p + 1, int),
                        "{v:?} int={int} p={p}"
                    );
                }
            }
        }
    }

    #[test]
    fn initial_master_timer_is_one_interval_plus_the_smallest_skew() {
        assert_eq!(initial_master_down_us(Version::V3, 100), 1_003_906);
        assert_eq!(initial_master_down_us(Version::V3, 1), 10_039);
        assert_eq!(initial_master_down_us(Version::V2, 100), 1_003_906);
        assert_eq!(initial_master_down_us(Version::V2, 300), 3_003_906);
    }

    #[test]
    fn timer_maths_extremes_do_not_overflow() {
        assert_eq!(skew_time_us(Version::V3, 0, u16::MAX), 655_350_000);
        assert_eq!(master_down_interval_us(Version::V3, 0, u16::MAX), 4 * 655_350_000);
        assert_eq!(master_down_interval_us(Version::V3, 255, 0), 0);
        assert_eq!(master_down_interval_us(Version::V2, 0, u16::MAX), 3 * 655_350_000 + 1_000_000);
    }

    // ---------------------------------------------------------------- initial election

    #[test]
    fn owner_goes_master_at_once() {
        let mut i = Instance::new(params(255, 1));
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.poll_timeout(), None);
        assert_eq!(i.poll_action(), None);
        i.handle_startup(cs(7));
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Initialize, State::Master, Reason::Owner),
                Action::SendAdvert { priority: 255 },
                Action::AddVips,
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.master_down_deadline(), None);
        assert_eq!(i.poll_timeout(), Some(cs(107)));
        i.handle_timeout(cs(107));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 255 }]);
        assert_eq!(i.poll_timeout(), Some(cs(207)));
    }

    #[test]
    fn non_owner_goes_backup_then_master_exactly_at_down_interval() {
        let t0 = 123_456_789;
        let mut i = Instance::new(params(90, 1));
        i.handle_startup(t0);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Initialize, State::Backup, Reason::Startup)]
        );
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.master_adver_int_cs(), 100);
        let deadline = t0 + us(3_648_437);
        assert_eq!(i.master_down_deadline(), Some(deadline));
        assert_eq!(i.poll_timeout(), Some(deadline));
        i.handle_timeout(deadline - 1);
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.poll_action(), None);
        i.handle_timeout(deadline);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Backup, State::Master, Reason::MasterDown { silent_us: None }),
                Action::SendAdvert { priority: 90 },
                Action::AddVips,
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.master_down_deadline(), None);
        assert_eq!(i.poll_timeout(), Some(deadline + cs(100)));
    }

    #[test]
    fn startup_is_ignored_when_running() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_startup(cs(50));
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.master_down_deadline(), Some(us(3_609_375)));
    }

    // ---------------------------------------------------------------- backup rules

    #[test]
    fn backup_restarts_timer_on_higher_or_equal_priority_and_ignores_lower_with_preempt() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_advert(cs(100), advert(2, 150));
        assert_eq!(i.master_down_deadline(), Some(cs(100) + us(3_609_375)));
        i.handle_advert(cs(200), advert(2, 100)); // equal: restart, whatever the address
        assert_eq!(i.master_down_deadline(), Some(cs(200) + us(3_609_375)));
        i.handle_advert(cs(300), advert(2, 99)); // lower, preempt: ignored
        assert_eq!(i.master_down_deadline(), Some(cs(200) + us(3_609_375)));
        assert_eq!(i.poll_action(), None);
    }

    /// The takeover says how long the master was silent: the last accepted advert's
    /// receipt to the expiry, which is Master_Down_Interval when the timer is exact. A lower
    /// advert ignored under preempt does not count as heard.
    #[test]
    fn master_down_reports_the_silence_since_the_last_accepted_advert() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        i.handle_advert(cs(100), advert(2, 150));
        i.handle_advert(cs(300), advert(2, 99)); // ignored: preempt, lower
        drain(&mut i);
        let deadline = cs(100) + us(3_609_375);
        i.handle_timeout(deadline);
        assert_eq!(
            drain(&mut i).first(),
            Some(&change(State::Backup, State::Master, Reason::MasterDown { silent_us: Some(3_609_375) }))
        );
    }

    #[test]
    fn backup_without_preempt_accepts_lower_priority_master() {
        let mut p = params(100, 1);
        p.preempt = false;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_advert(cs(300), advert(2, 10));
        assert_eq!(i.master_down_deadline(), Some(cs(300) + us(3_609_375)));
    }

    #[test]
    fn backup_priority_zero_sets_timer_to_skew_and_reports_release() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_advert(cs(100), advert(2, 200));
        i.handle_advert(cs(150), advert(2, 0));
        assert_eq!(i.master_down_deadline(), Some(cs(150) + us(609_375))); // Skew_Time(100, 1 s)
        i.handle_timeout(cs(150) + us(609_375));
        assert_eq!(
            drain(&mut i)[0],
            change(State::Backup, State::Master, Reason::PriorityZero)
        );
    }

    #[test]
    fn v3_backup_learns_interval_from_each_accepted_advert() {
        let mut i = Instance::new(params(90, 1));
        i.handle_startup(0);
        let adv = |int| Advert {
            src: v4(2),
            priority: 200,
            max_adver_int_cs: int,
        };
        i.handle_advert(cs(10), adv(50));
        assert_eq!(i.master_adver_int_cs(), 50);
        assert_eq!(i.skew_time_us(), 324_218);
        assert_eq!(i.master_down_deadline(), Some(cs(10) + us(1_824_218)));
        i.handle_advert(cs(60), adv(4095));
        assert_eq!(i.master_adver_int_cs(), 4095);
        assert_eq!(i.master_down_deadline(), Some(cs(60) + us(149_403_515)));
        // A lower-priority advert (ignored, preempt on) teaches nothing.
        i.handle_advert(
            cs(70),
            Advert {
                src: v4(3),
                priority: 10,
                max_adver_int_cs: 1,
            },
        );
        assert_eq!(i.master_adver_int_cs(), 4095);
        // A zero interval field is treated as 1 cs.
        i.handle_advert(cs(80), adv(0));
        assert_eq!(i.master_adver_int_cs(), 1);
        assert_eq!(i.master_down_deadline(), Some(cs(80) + us(36_484)));
    }

    #[test]
    fn v2_backup_does_not_learn_interval() {
        let mut p = params(90, 1);
        p.version = Version::V2;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_advert(
            cs(10),
            Advert {
                src: v4(2),
                priority: 200,
                max_adver_int_cs: 300,
            },
        );
        assert_eq!(i.master_adver_int_cs(), 100);
        assert_eq!(i.master_down_deadline(), Some(cs(10) + us(3_648_437)));
    }

    #[test]
    fn late_advert_uses_its_own_timestamp() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_advert(cs(500), advert(2, 200));
        assert_eq!(i.master_down_deadline(), Some(cs(500) + us(3_609_375)));
        // Delivered late, stamped earlier than the previous event.
        i.handle_advert(cs(400), advert(2, 200));
        assert_eq!(i.master_down_deadline(), Some(cs(400) + us(3_609_375)));
        // A deadline already in the past fires on the next handle_timeout.
        i.handle_advert(cs(50), advert(2, 200));
        assert_eq!(i.poll_timeout(), Some(cs(50) + us(3_609_375)));
        i.handle_timeout(cs(500));
        assert_eq!(i.state(), State::Master);
        // The new timers are armed from `now`, not from the stale deadline.
        assert_eq!(i.poll_timeout(), Some(cs(600)));
    }

    #[test]
    fn late_higher_priority_advert_demotes_master_with_timer_from_its_timestamp() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_advert(t - cs(10), advert(2, 200));
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.master_down_deadline(), Some(t - cs(10) + us(3_609_375)));
    }

    #[test]
    fn preempt_delay_counts_from_the_first_lower_priority_advert_in_backup() {
        let mut p = params(200, 1);
        p.preempt_delay_us = 10 * US_PER_S;
        let down = us(3_218_750);
        let mut i = Instance::new(p);
        i.handle_startup(cs(100));
        // Long after startup, the first lower-priority advert starts the delay...
        i.handle_advert(cs(5000), advert(2, 50));
        assert_eq!(i.master_down_deadline(), Some(cs(5000) + down));
        // ... and lower-priority adverts are accepted until it has run.
        i.handle_advert(cs(5999), advert(2, 50));
        assert_eq!(i.master_down_deadline(), Some(cs(5999) + down));
        // Delay elapsed: ignored, the timer runs out and we preempt.
        i.handle_advert(cs(6000), advert(2, 50));
        assert_eq!(i.master_down_deadline(), Some(cs(5999) + down));
    }

    #[test]
    fn preempt_delay_restarts_after_a_higher_master_and_after_reentering_backup() {
        let mut p = params(200, 1);
        p.preempt_delay_us = 10 * US_PER_S;
        let down = us(3_218_750);
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_advert(cs(100), advert(2, 50)); // starts the delay
        i.handle_advert(cs(200), advert(3, 250)); // a higher master: the delay stops
        i.handle_advert(cs(1200), advert(2, 50)); // a new lower master: a new delay
        assert_eq!(i.master_down_deadline(), Some(cs(1200) + down));
        i.handle_advert(cs(2199), advert(2, 50));
        assert_eq!(i.master_down_deadline(), Some(cs(2199) + down));
        // Fault and back: the delay starts again at the next lower advert.
        i.handle_fault(cs(2300), true);
        i.handle_fault(cs(2400), false);
        i.handle_advert(cs(9000), advert(2, 50));
        assert_eq!(i.master_down_deadline(), Some(cs(9000) + down));
    }

    #[test]
    fn initial_state_master_uses_the_short_first_timer_once() {
        let mut p = params(100, 1);
        p.initial_master = true;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        assert_eq!(i.master_down_deadline(), Some(us(1_003_906)));
        // Any advert restarts the regular Master_Down_Interval.
        i.handle_advert(cs(10), advert(2, 200));
        assert_eq!(i.master_down_deadline(), Some(cs(10) + us(3_609_375)));
        // Leaving Fault is a new start: the short timer again (keepalived).
        i.handle_fault(cs(20), true);
        i.handle_fault(cs(30), false);
        assert_eq!(i.master_down_deadline(), Some(cs(30) + us(1_003_906)));
    }

    // ---------------------------------------------------------------- master rules

    #[test]
    fn master_demoted_by_higher_priority() {
        let (mut i, t) = make_master(params(100, 1), 0);
        let at = t + cs(30);
        i.handle_advert(
            at,
            Advert {
                src: v4(9),
                priority: 150,
                max_adver_int_cs: 200,
            },
        );
        assert_eq!(
            drain(&mut i),
            vec![
                // higher_prio_send_advert: the winner hears a lower advert and re-announces.
                Action::SendAdvert { priority: 100 },
                change(
                    State::Master,
                    State::Backup,
                    Reason::HigherPriority {
                        src: v4(9),
                        priority: 150
                    }
                ),
                Action::RemoveVips,
            ]
        );
        assert_eq!(i.state(), State::Backup);
        // v3: learned 200 cs; down = 6 s + 156 * 2 s / 256 = 6 s + 1_218_750 us.
        assert_eq!(i.master_adver_int_cs(), 200);
        assert_eq!(i.master_down_deadline(), Some(at + us(7_218_750)));
        assert_eq!(i.poll_timeout(), Some(at + us(7_218_750)));
    }

    #[test]
    fn master_equal_priority_tie_break_on_address() {
        let mut p = params(100, 5);
        p.lower_prio_advert = false;
        p.garp_lower_prio_repeat = 0;
        let (mut i, t) = make_master(p, 0);
        // Lower address, equal priority: we stay (re-asserting is off here).
        i.handle_advert(t + 1, advert(4, 100));
        // Lower priority: we stay.
        i.handle_advert(t + 2, advert(200, 99));
        // Our own address (looped back): ignored.
        i.handle_advert(t + 3, advert(5, 100));
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.poll_timeout(), Some(t + cs(100)));
        i.handle_advert(t + 4, advert(6, 100));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::SendAdvert { priority: 100 },
                change(
                    State::Master,
                    State::Backup,
                    Reason::EqualPriorityHigherAddress { src: v4(6) }
                ),
                Action::RemoveVips,
            ]
        );
    }

    #[test]
    fn address_comparison_is_unsigned_big_endian_per_family() {
        assert!(addr_greater(v4(2), v4(1)));
        assert!(addr_greater(
            IpAddr::V4(Ipv4Addr::new(200, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(100, 255, 255, 255))
        ));
        assert!(!addr_greater(v4(1), v4(1)));
        let a: IpAddr = "fe80::2"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let b: IpAddr = "fe80::1"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let c: IpAddr = "ff00::"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert!(addr_greater(a, b) && !addr_greater(b, a) && addr_greater(c, a));
        // Mixed families never compare greater.
        assert!(!addr_greater(a, v4(1)) && !addr_greater(v4(1), a));

        let mut p = params(100, 1);
        p.primary_addr = a;
        let (mut i, t) = make_master(p, 0);
        i.handle_advert(
            t + 1,
            Advert {
                src: b,
                priority: 100,
                max_adver_int_cs: 100,
            },
        );
        i.handle_advert(
            t + 2,
            Advert {
                src: v4(255),
                priority: 100,
                max_adver_int_cs: 100,
            },
        );
        assert_eq!(i.state(), State::Master);
        i.handle_advert(
            t + 3,
            Advert {
                src: c,
                priority: 100,
                max_adver_int_cs: 100,
            },
        );
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn higher_prio_send_advert_off_steps_down_silently() {
        let mut p = params(100, 1);
        p.higher_prio_send_advert = false;
        let (mut i, t) = make_master(p, 0);
        i.handle_advert(t + 1, advert(2, 200));
        assert_eq!(
            drain(&mut i),
            vec![
                change(
                    State::Master,
                    State::Backup,
                    Reason::HigherPriority { src: v4(2), priority: 200 }
                ),
                Action::RemoveVips
            ]
        );
    }

    #[test]
    fn master_answers_priority_zero_with_immediate_advert() {
        let (mut i, t) = make_master(params(100, 1), 0);
        let at = t + cs(40);
        i.handle_advert(at, advert(2, 0));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.state(), State::Master);
        assert_eq!(i.poll_timeout(), Some(at + cs(100)));
    }

    #[test]
    fn master_answers_a_burst_of_priority_zero_adverts_once_per_interval() {
        // A flood of forged priority-0 adverts (1000 within one interval) gets one answer;
        // the next answer is due an interval after it, and the Adver_Timer it restarted
        // keeps the schedule in between.
        let (mut i, t) = make_master(params(100, 1), 0);
        let at = t + cs(40);
        let mut sent = 0;
        for k in 0..1000u64 {
            i.handle_advert(at + k * 1_000, advert(2, 0));
            sent += drain(&mut i).iter().filter(|a| matches!(a, Action::SendAdvert { .. })).count();
        }
        assert_eq!(sent, 1, "one answer for the burst");
        assert_eq!(i.poll_timeout(), Some(at + cs(100)), "the answer restarted the Adver_Timer");
        i.handle_advert(at + cs(100) - 1, advert(2, 0));
        assert_eq!(drain(&mut i), vec![]);
        i.handle_timeout(at + cs(100));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }], "the schedule goes on");
        i.handle_advert(at + cs(100), advert(2, 0));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }], "answered again an interval later");
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn timers_fire_in_deadline_order() {
        let mut p = params(100, 1);
        p.garp_master_delay_us = 500_000;
        let (mut i, t) = make_master(p, 0);
        i.handle_timeout(t + cs(100));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::SendGarp { count: 5 },
                Action::SendAdvert { priority: 100 }
            ]
        );
        let mut p = params(100, 1);
        p.garp_master_delay_us = 1_500_000;
        let (mut i, t) = make_master(p, 0);
        i.handle_timeout(t + cs(150));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::SendAdvert { priority: 100 },
                Action::SendGarp { count: 5 }
            ]
        );
        // A late call does not burst catch-up adverts: one advert, re-armed from now.
        i.handle_timeout(t + cs(1000));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.poll_timeout(), Some(t + cs(1100)));
    }

    #[test]
    fn garp_bursts_delay_and_refresh() {
        let mut p = params(100, 1);
        p.garp_master_repeat = 3;
        p.garp_master_delay_us = 5 * US_PER_S;
        p.garp_master_refresh_us = 10 * US_PER_S;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        let mut garps = Vec::new();
        let mut now = 0;
        while let Some(t) = i.poll_timeout() {
            if t > cs(3500) {
                break;
            }
            now = t;
            i.handle_timeout(now);
            for a in drain(&mut i) {
                if let Action::SendGarp { count } = a {
                    garps.push((now, count));
                }
            }
        }
        assert!(now <= cs(3500));
        let m = us(3_609_375);
        assert_eq!(
            garps,
            vec![
                (m, 3),
                (m + cs(500), 3),
                (m + cs(1000), 3),
                (m + cs(2000), 3),
                (m + cs(3000), 3)
            ]
        );
    }

    #[test]
    fn garp_repeat_zero_sends_none_and_demotion_cancels_pending_bursts() {
        let mut p = params(100, 1);
        p.garp_master_repeat = 0;
        p.garp_master_refresh_us = US_PER_S;
        let mut i = Instance::new(p);
        i.handle_startup(0);
        i.handle_timeout(us(3_609_375));
        assert!(
            !drain(&mut i)
                .iter()
                .any(|a| matches!(a, Action::SendGarp { .. }))
        );
        assert_eq!(i.poll_timeout(), Some(us(4_609_375))); // only the Adver_Timer

        let mut p = params(100, 1);
        p.garp_master_refresh_us = 2 * US_PER_S;
        let (mut i, t) = make_master(p, 0);
        i.handle_advert(t + cs(10), advert(2, 200));
        drain(&mut i);
        assert_eq!(i.poll_timeout(), Some(t + cs(10) + us(3_609_375)));
        i.handle_timeout(t + cs(300));
        assert_eq!(i.poll_action(), None);
    }

    // ---------------------------------------------------------------- priority changes

    #[test]
    fn priority_change() {
        // Owner: stays 255.
        let mut o = Instance::new(params(255, 1));
        o.handle_priority_change(0, 10);
        assert_eq!(o.priority(), 255);

        // Clamped to 1..=254 for non-owners.
        let mut i = Instance::new(params(100, 1));
        i.handle_priority_change(0, 0);
        assert_eq!(i.priority(), 1);
        i.handle_priority_change(0, 255);
        assert_eq!(i.priority(), 254);

        // Backup: the running timer moves by the change of Master_Down_Interval, as
        // keepalived does: 100 -> 200 shortens it by (200 - 100) / 256 s = 390.625 ms.
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        i.handle_priority_change(cs(10), 200);
        assert_eq!(i.master_down_deadline(), Some(us(3_609_375 - 390_625)));
        assert_eq!(i.skew_time_us(), 218_750);
        assert_eq!(i.poll_action(), Some(change(State::Initialize, State::Backup, Reason::Startup)));
        assert_eq!(i.poll_action(), None);
        // ... and back.
        i.handle_priority_change(cs(11), 100);
        assert_eq!(i.master_down_deadline(), Some(us(3_609_375)));
        i.handle_advert(cs(20), advert(2, 250));
        assert_eq!(i.master_down_deadline(), Some(cs(20) + us(3_609_375)));
        // The same value again changes nothing.
        i.handle_priority_change(cs(21), 100);
        assert_eq!(i.master_down_deadline(), Some(cs(20) + us(3_609_375)));
        // After a priority-0 advert the timer runs Skew_Time: it moves by the skew change.
        i.handle_advert(cs(30), advert(2, 0));
        assert_eq!(i.master_down_deadline(), Some(cs(30) + us(609_375)));
        i.handle_priority_change(cs(31), 200);
        assert_eq!(i.master_down_deadline(), Some(cs(30) + us(218_750)));
        // A deadline moved into the past fires on the next timeout.
        let mut i = Instance::new(params(1, 1));
        i.handle_startup(0);
        i.handle_priority_change(cs(390), 254);
        assert!(i.takeover_due(cs(390)));

        // Master: an advert with the new priority at once, the Adver_Timer restarted; the
        // new priority is used for the tie break.
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_priority_change(t + 1, 50);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 50 }]);
        assert_eq!(i.poll_timeout(), Some(t + 1 + cs(100)));
        i.handle_timeout(t + 1 + cs(100));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 50 }]);
        i.handle_advert(t + cs(110), advert(2, 60));
        assert_eq!(i.state(), State::Backup);
    }

    // ---------------------------------------------------------------- fault, shutdown

    #[test]
    fn fault_and_recovery() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_fault(t + 5, true);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Fault, Reason::FaultRaised),
                // The backup takes over after Skew_Time if the advert still gets out.
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips
            ]
        );
        assert_eq!(i.poll_timeout(), None);
        // Nothing happens in Fault.
        i.handle_fault(t + 6, true);
        i.handle_advert(t + 7, advert(2, 0));
        i.handle_advert(t + 8, advert(2, 200));
        i.handle_timeout(u64::MAX);
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.state(), State::Fault);
        // Recovery: Backup, with the configured interval.
        i.handle_fault(cs(1000), false);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Fault, State::Backup, Reason::FaultCleared)]
        );
        assert_eq!(i.master_down_deadline(), Some(cs(1000) + us(3_609_375)));
        // Backup fault: no VIPs to remove.
        i.handle_fault(cs(1100), true);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Backup, State::Fault, Reason::FaultRaised)]
        );
        assert_eq!(i.poll_timeout(), None);
    }

    #[test]
    fn owner_recovers_from_fault_straight_to_master() {
        let mut i = Instance::new(params(255, 1));
        i.handle_startup(0);
        i.handle_fault(cs(10), true);
        drain(&mut i);
        i.handle_fault(cs(20), false);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Fault, State::Master, Reason::FaultCleared),
                Action::SendAdvert { priority: 255 },
                Action::AddVips,
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.poll_timeout(), Some(cs(120)));
    }

    #[test]
    fn fault_raised_before_startup_starts_in_fault() {
        let mut i = Instance::new(params(255, 1));
        i.handle_fault(0, true);
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.poll_action(), None);
        i.handle_startup(cs(1));
        assert_eq!(
            drain(&mut i),
            vec![change(State::Initialize, State::Fault, Reason::FaultRaised)]
        );
        assert_eq!(i.poll_timeout(), None);
    }

    #[test]
    fn shutdown() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_shutdown(t + 5);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Initialize, Reason::Shutdown),
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
            ]
        );
        assert_eq!(i.state(), State::Initialize);
        assert_eq!(i.poll_timeout(), None);
        i.handle_advert(t + 6, advert(2, 0));
        i.handle_shutdown(t + 7);
        assert_eq!(i.poll_action(), None);
        // Can be started again.
        i.handle_startup(t + 8);
        assert_eq!(i.state(), State::Backup);

        let mut b = Instance::new(params(100, 1));
        b.handle_startup(0);
        drain(&mut b);
        b.handle_shutdown(cs(1));
        assert_eq!(
            drain(&mut b),
            vec![change(State::Backup, State::Initialize, Reason::Shutdown)]
        );
        assert_eq!(b.poll_timeout(), None);

        let mut f = Instance::new(params(100, 1));
        f.handle_fault(0, true);
        f.handle_startup(0);
        drain(&mut f);
        f.handle_shutdown(cs(1));
        assert_eq!(
            drain(&mut f),
            vec![change(State::Fault, State::Initialize, Reason::Shutdown)]
        );
    }

    // ---------------------------------------------------------------- re-asserting (heal)

    #[test]
    fn master_reasserts_against_a_lower_priority_advert_at_most_once_per_interval() {
        let (mut i, t) = make_master(params(100, 5), 0);
        i.handle_advert(t + 1, advert(9, 50));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::Reassert { src: v4(9), priority: 50 },
                Action::SendAdvert { priority: 100 },
                Action::SendGarp { count: 5 },
            ]
        );
        // A flood within the same interval is not amplified.
        for k in 2..1000 {
            i.handle_advert(t + k * 1000, advert(9, 50));
        }
        assert_eq!(drain(&mut i), vec![]);
        // Equal priority from a lower address is a second master too.
        i.handle_advert(t + 1 + cs(100), advert(4, 100));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::Reassert { src: v4(4), priority: 100 },
                Action::SendAdvert { priority: 100 },
                Action::SendGarp { count: 5 },
            ]
        );
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn a_backlog_of_stale_lower_priority_adverts_gets_one_reassertion_per_interval_of_now() {
        // The process was stopped for 5 s at 100 ms adverts: 50 lower-priority adverts wait
        // in the queue, received 100 ms apart, and are handled within 3 ms after SIGCONT.
        // Their receive times are an interval apart each; the answers must not be.
        let mut p = params(100, 5);
        p.advert_int_cs = 10;
        let (mut i, t) = make_master(p, 0);
        let resumed = t + us(5 * US_PER_S);
        let mut reasserts = Vec::new();
        for k in 0..50u64 {
            let at = t + 1 + k * cs(10);
            let now = resumed + k * 60_000; // 60 us apart: 3 ms for the 50
            i.handle_queued_advert(now, at, advert(9, 50));
            for a in drain(&mut i) {
                if matches!(a, Action::Reassert { .. }) {
                    reasserts.push(now);
                }
            }
        }
        assert_eq!(reasserts, vec![resumed], "one re-assertion for the whole backlog");
        // The limit runs from when we answered: the next one is due one interval later.
        i.handle_queued_advert(resumed + cs(10) - 1, resumed + cs(10) - 2, advert(9, 50));
        assert_eq!(drain(&mut i), vec![]);
        i.handle_queued_advert(resumed + cs(10), resumed + cs(10), advert(9, 50));
        assert_eq!(drain(&mut i)[0], Action::Reassert { src: v4(9), priority: 50 });
    }

    #[test]
    fn a_queued_higher_priority_advert_times_the_backups_master_down_from_its_receipt() {
        // Yielding to a higher master: its Master_Down_Timer measures that master, so it
        // runs from the advert's receive time, not from when we got to it.
        let (mut i, t) = make_master(params(100, 5), 0);
        let at = t + cs(10);
        i.handle_queued_advert(at + us(US_PER_S), at, advert(9, 200));
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.master_down_deadline(), Some(at + us(i.master_down_interval_us())));
    }

    #[test]
    fn the_owner_reasserts_against_lower_masters_and_a_second_owner_and_never_yields() {
        let mut i = Instance::new(params(255, 5));
        i.handle_startup(0);
        drain(&mut i);
        // A healed split brain: the other master (priority 100) speaks; the owner re-announces.
        i.handle_advert(cs(1), advert(9, 100));
        assert_eq!(
            drain(&mut i),
            vec![
                Action::Reassert { src: v4(9), priority: 100 },
                Action::SendAdvert { priority: 255 },
                Action::SendGarp { count: 5 },
            ]
        );
        // Another router claiming priority 255 from a higher address: the owner stays master
        // (no tie-break for owners) and reports it.
        i.handle_advert(cs(200), advert(200, 255));
        assert_eq!(i.state(), State::Master);
        assert_eq!(drain(&mut i)[0], Action::Reassert { src: v4(200), priority: 255 });
        // Its own looped-back advert is ignored.
        i.handle_advert(cs(400), advert(5, 255));
        assert_eq!(i.poll_action(), None);
    }

    #[test]
    fn reassert_garps_at_most_every_100ms_even_at_10ms_adverts() {
        let mut p = params(100, 5);
        p.advert_int_cs = 1;
        let (mut i, t) = make_master(p, 0);
        let mut garps = 0;
        let mut adverts = 0;
        // One forged lower-priority advert per interval for 2.5 s.
        for k in 0..250u64 {
            i.handle_advert(t + 1 + k * cs(1), advert(9, 50));
            for a in drain(&mut i) {
                match a {
                    Action::SendGarp { .. } => garps += 1,
                    Action::SendAdvert { .. } => adverts += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(adverts, 250, "one advert per interval");
        assert_eq!(garps, 25, "GARP bursts every 100 ms only (0, 0.1, .. 2.4 s)");
    }

    #[test]
    fn reassert_follows_lower_prio_no_advert_and_garp_lower_prio_settings() {
        let mut p = params(100, 5);
        p.lower_prio_advert = false;
        p.garp_lower_prio_repeat = 2;
        p.garp_lower_prio_delay_us = 3 * US_PER_S;
        let (mut i, t) = make_master(p, 0);
        i.handle_advert(t + 1, advert(9, 50));
        assert_eq!(
            drain(&mut i),
            vec![Action::Reassert { src: v4(9), priority: 50 }, Action::SendGarp { count: 2 }]
        );
        i.handle_timeout(t + 1 + us(3_000_000));
        assert!(drain(&mut i).contains(&Action::SendGarp { count: 2 }));
    }

    // ---------------------------------------------------------------- make-before-break

    #[test]
    fn make_before_break_keeps_the_vips_until_the_successor_speaks() {
        let mut p = params(100, 1);
        p.make_before_break = true;
        let (mut i, t) = make_master(p, 0);
        i.handle_shutdown(t + 5);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 0 }]);
        assert_eq!(i.state(), State::Master);
        assert!(i.is_releasing() && !i.is_stopped());
        // No more regular adverts or GARPs: only the release deadline is armed.
        assert_eq!(i.poll_timeout(), Some(t + 5 + us(3_609_375)));
        // Our own looped advert and another leaving router do not count.
        i.handle_advert(t + 6, advert(1, 100));
        i.handle_advert(t + 7, advert(3, 0));
        assert_eq!(i.poll_action(), None);
        // The successor (lower priority, naturally) speaks: the VIPs go one advert interval
        // later (it installs its own and sends its GARPs meanwhile), no second p0.
        i.handle_advert(t + cs(30), advert(2, 90));
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.poll_timeout(), Some(t + cs(30) + cs(100)));
        i.handle_advert(t + cs(40), advert(2, 90)); // its next adverts change nothing
        i.handle_timeout(t + cs(130) - 1);
        assert_eq!(i.poll_action(), None);
        i.handle_timeout(t + cs(130));
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Initialize, Reason::HandedOver { src: v4(2) }),
                Action::RemoveVips,
            ]
        );
        assert!(i.is_stopped() && !i.is_releasing());
        assert_eq!(i.poll_timeout(), None);
    }

    #[test]
    fn make_before_break_gives_up_after_master_down_interval() {
        let mut p = params(100, 1);
        p.make_before_break = true;
        let (mut i, t) = make_master(p, 0);
        i.handle_shutdown(t);
        drain(&mut i);
        i.handle_shutdown(t + 1); // a second SIGTERM changes nothing
        assert_eq!(i.poll_action(), None);
        i.handle_timeout(t + us(3_609_375));
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Initialize, Reason::NoSuccessor), Action::RemoveVips]
        );
        // A fault while releasing ends it at once.
        let mut p = params(100, 1);
        p.make_before_break = true;
        let (mut i, t) = make_master(p, 0);
        i.handle_shutdown(t);
        drain(&mut i);
        i.handle_fault(t + 1, true);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Initialize, Reason::Shutdown), Action::RemoveVips]
        );
    }

    #[test]
    fn stop_now_cuts_a_hand_over_short_and_stops_a_master_at_once() {
        let mut p = params(100, 1);
        p.make_before_break = true;
        let (mut i, t) = make_master(p.clone(), 0);
        i.handle_shutdown(t);
        drain(&mut i);
        i.handle_stop_now(t + 1);
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Initialize, Reason::Shutdown), Action::RemoveVips]
        );
        let (mut i, t) = make_master(p, 0);
        i.handle_stop_now(t);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Initialize, Reason::Shutdown),
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips
            ]
        );
    }

    // ---------------------------------------------------------------- tracker faults

    fn mbb(priority: u8) -> Params {
        let mut p = params(priority, 1);
        p.make_before_break = true;
        p
    }

    #[test]
    fn tracker_fault_in_backup_is_immediate_and_clears_to_backup() {
        let mut i = Instance::new(mbb(100));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_tracker_fault(cs(10), TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![change(State::Backup, State::Fault, Reason::TrackerFailed)]);
        assert_eq!(i.poll_timeout(), None);
        // The same verdict again changes nothing.
        i.handle_tracker_fault(cs(11), TrackerFault::Fault);
        assert_eq!(i.poll_action(), None);
        // A link fault on top: both must clear.
        i.handle_fault(cs(12), true);
        i.handle_tracker_fault(cs(13), TrackerFault::Clear);
        assert_eq!(i.state(), State::Fault);
        assert_eq!(i.poll_action(), None);
        i.handle_tracker_fault(cs(14), TrackerFault::Fault);
        i.handle_fault(cs(15), false);
        assert_eq!(i.state(), State::Fault);
        i.handle_tracker_fault(cs(20), TrackerFault::Clear);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Backup, Reason::FaultCleared)]);
        assert_eq!(i.master_down_deadline(), Some(cs(20) + us(3_609_375)));
    }

    #[test]
    fn init_hold_keeps_the_instance_out_until_the_first_result() {
        let mut i = Instance::new(mbb(100));
        i.handle_tracker_fault(0, TrackerFault::InitHold);
        assert_eq!(i.poll_action(), None);
        i.handle_startup(cs(1));
        assert_eq!(drain(&mut i), vec![change(State::Initialize, State::Fault, Reason::InitHold)]);
        // The first result is good: Backup.
        i.handle_tracker_fault(cs(5), TrackerFault::Clear);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Backup, Reason::FaultCleared)]);
        // The owner goes straight to Master once held no more.
        let mut o = Instance::new(mbb(255));
        o.handle_tracker_fault(0, TrackerFault::InitHold);
        o.handle_startup(0);
        o.handle_tracker_fault(cs(5), TrackerFault::Clear);
        assert_eq!(o.state(), State::Master);
        // A link fault wins over the hold as the reason.
        let mut i = Instance::new(mbb(100));
        i.handle_tracker_fault(0, TrackerFault::InitHold);
        i.handle_fault(0, true);
        i.handle_startup(0);
        assert_eq!(drain(&mut i), vec![change(State::Initialize, State::Fault, Reason::FaultRaised)]);
    }

    #[test]
    fn tracker_fault_on_a_master_hands_over_make_before_break() {
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_tracker_fault(t + 5, TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 0 }]);
        assert_eq!(i.state(), State::Master);
        assert!(i.is_releasing());
        assert_eq!(i.poll_timeout(), Some(t + 5 + us(3_609_375)));
        // A priority change while handing over sends nothing.
        i.handle_priority_change(t + 6, 50);
        assert_eq!(i.poll_action(), None);
        // The successor speaks: the VIPs go one interval later, then Fault.
        i.handle_advert(t + cs(70), advert(2, 90));
        assert_eq!(i.poll_timeout(), Some(t + cs(170)));
        i.handle_timeout(t + cs(170));
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Fault, Reason::FaultHandOver { successor: Some(v4(2)) }),
                Action::RemoveVips,
            ]
        );
        assert!(!i.is_releasing());
        assert_eq!(i.poll_timeout(), None);
        i.handle_tracker_fault(cs(1000), TrackerFault::Clear);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Backup, Reason::FaultCleared)]);
    }

    #[test]
    fn tracker_fault_hand_over_without_successor_ends_at_master_down_interval() {
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_tracker_fault(t, TrackerFault::Fault);
        drain(&mut i);
        i.handle_timeout(t + us(3_609_375));
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Fault, Reason::FaultHandOver { successor: None }), Action::RemoveVips]
        );
    }

    #[test]
    fn tracker_fault_on_a_master_without_make_before_break_is_immediate() {
        let (mut i, t) = make_master(params(100, 1), 0);
        i.handle_tracker_fault(t, TrackerFault::Fault);
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Fault, Reason::TrackerFailed),
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips
            ]
        );
    }

    #[test]
    fn link_fault_during_a_tracker_hand_over_ends_it_at_once() {
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_tracker_fault(t, TrackerFault::Fault);
        drain(&mut i);
        i.handle_fault(t + cs(10), true);
        // No second priority-0 advert.
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Fault, Reason::FaultRaised), Action::RemoveVips]
        );
        // The link comes back, the tracker is still failed: Fault stays.
        i.handle_fault(t + cs(20), false);
        assert_eq!(i.state(), State::Fault);
    }

    #[test]
    fn tracker_clearing_before_a_successor_speaks_keeps_the_master() {
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_tracker_fault(t, TrackerFault::Fault);
        drain(&mut i);
        i.handle_tracker_fault(t + cs(50), TrackerFault::Clear);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.state(), State::Master);
        assert!(!i.is_releasing());
        assert_eq!(i.poll_timeout(), Some(t + cs(150)));
        i.handle_timeout(t + cs(150));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
    }

    #[test]
    fn tracker_clearing_after_the_successor_spoke_ends_in_backup() {
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_tracker_fault(t, TrackerFault::Fault);
        drain(&mut i);
        i.handle_advert(t + cs(70), advert(2, 90));
        i.handle_tracker_fault(t + cs(80), TrackerFault::Clear);
        assert_eq!(i.poll_action(), None);
        // Failing again before the end: back to Fault as planned.
        i.handle_tracker_fault(t + cs(81), TrackerFault::Fault);
        i.handle_tracker_fault(t + cs(82), TrackerFault::Clear);
        i.handle_timeout(t + cs(170));
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Master, State::Backup, Reason::FaultHandOver { successor: Some(v4(2)) }),
                Action::RemoveVips,
            ]
        );
        assert_eq!(i.master_down_deadline(), Some(t + cs(170) + us(3_609_375)));
    }

    #[test]
    fn shutdown_during_a_tracker_hand_over_ends_in_initialize() {
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_tracker_fault(t, TrackerFault::Fault);
        drain(&mut i);
        i.handle_shutdown(t + 1);
        assert_eq!(i.poll_action(), None);
        // Clearing the tracker does not resume a Master that is shutting down.
        i.handle_tracker_fault(t + 2, TrackerFault::Clear);
        assert_eq!(i.poll_action(), None);
        i.handle_timeout(t + us(3_609_375));
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Initialize, Reason::NoSuccessor), Action::RemoveVips]
        );
        assert!(i.is_stopped());
    }

    // ---------------------------------------------------------------- sync group entry points

    #[test]
    fn sync_gated_backup_asks_its_group_instead_of_taking_over() {
        let mut i = Instance::new(params(100, 1));
        i.set_sync_gated(true);
        i.handle_startup(0);
        drain(&mut i);
        let d = us(3_609_375);
        i.handle_timeout(d);
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.poll_action(), None);
        assert_eq!(i.poll_want_master(), Some(true));
        assert_eq!(i.poll_want_master(), None);
        // keepalived restarts the timer meanwhile; firing again asks nothing new.
        assert_eq!(i.master_down_deadline(), Some(d + d));
        i.handle_timeout(d + d);
        assert_eq!(i.poll_want_master(), None);
        // An accepted advert withdraws the wish.
        i.handle_advert(d + d + 1, advert(2, 150));
        assert_eq!(i.poll_want_master(), Some(false));
        // The group says go: Master at once.
        i.handle_sync_master(cs(1000));
        assert_eq!(
            drain(&mut i),
            vec![
                change(State::Backup, State::Master, Reason::Synced),
                Action::SendAdvert { priority: 100 },
                Action::AddVips,
                Action::SendGarp { count: 5 },
            ]
        );
        // And back: no priority-0 advert, the VIPs go.
        i.handle_sync_backup(cs(1100));
        assert_eq!(
            drain(&mut i),
            vec![change(State::Master, State::Backup, Reason::Synced), Action::RemoveVips]
        );
        // Commands that do not apply are ignored.
        i.handle_sync_backup(cs(1200));
        assert_eq!(i.poll_action(), None);
        // Ungated, the timer takes over as usual.
        i.set_sync_gated(false);
        i.handle_timeout(u64::MAX);
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn sync_gated_backup_has_no_takeover_window() {
        // A gated member only tells its group when its timer runs out: the driver must not
        // close a takeover window (publish Master, drain adverts) for it on every expiry.
        let mut i = Instance::new(params(100, 1));
        i.set_sync_gated(true);
        i.handle_startup(0);
        drain(&mut i);
        let d = us(3_609_375);
        assert!(!i.takeover_due(d));
        // ... but its timer did run out: the driver reads the adverts that arrived since
        // (steady-state adverts do not wake it) before the expiry asks the group.
        assert!(i.master_down_due(d) && !i.master_down_due(d - 1));
        i.handle_timeout(d);
        assert!(!i.takeover_due(d + d));
        // Ungated, the same expiry is a takeover.
        i.set_sync_gated(false);
        assert!(i.takeover_due(d + d));
    }

    #[test]
    fn a_first_result_that_fails_is_announced_as_a_fault() {
        // Held in FAULT for a weight-0 tracker's first result; that result is a failure:
        // the driver gets a Fault -> Fault change to run the FAULT notifies on.
        let mut i = Instance::new(params(100, 1));
        i.handle_tracker_fault(0, TrackerFault::InitHold);
        i.handle_startup(0);
        assert_eq!(drain(&mut i), vec![change(State::Initialize, State::Fault, Reason::InitHold)]);
        i.handle_tracker_fault(cs(1), TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Fault, Reason::TrackerFailed)]);
        // Announced once per stay in FAULT: held again, then failing again, says nothing more.
        i.handle_tracker_fault(cs(2), TrackerFault::InitHold);
        i.handle_tracker_fault(cs(3), TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![]);
        // Only once: nothing more while it stays faulty, for whatever reason.
        i.handle_fault(cs(2), true);
        i.handle_fault(cs(3), false);
        assert_eq!(i.poll_action(), None);
        i.handle_tracker_fault(cs(4), TrackerFault::Clear);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Backup, Reason::FaultCleared)]);
        // The same from a sibling's fault, and from the link.
        let mut i = Instance::new(params(100, 1));
        i.handle_sync_fault(0, TrackerFault::InitHold);
        i.handle_startup(0);
        drain(&mut i);
        i.handle_sync_fault(cs(1), TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Fault, Reason::SyncFault)]);
        let mut i = Instance::new(params(100, 1));
        i.handle_tracker_fault(0, TrackerFault::InitHold);
        i.handle_startup(0);
        drain(&mut i);
        i.handle_fault(cs(1), true);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Fault, Reason::FaultRaised)]);
    }

    #[test]
    fn sync_fault_acts_like_a_tracker_fault() {
        let mut i = Instance::new(params(100, 1));
        i.handle_startup(0);
        drain(&mut i);
        i.handle_sync_fault(cs(1), TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![change(State::Backup, State::Fault, Reason::SyncFault)]);
        // Its own faults are what the group hears about, not the group's.
        assert_eq!(i.own_fault(), TrackerFault::Clear);
        i.handle_tracker_fault(cs(2), TrackerFault::InitHold);
        assert_eq!(i.own_fault(), TrackerFault::InitHold);
        i.handle_fault(cs(3), true);
        assert_eq!(i.own_fault(), TrackerFault::Fault);
        i.handle_fault(cs(4), false);
        i.handle_tracker_fault(cs(5), TrackerFault::Clear);
        assert_eq!(i.state(), State::Fault);
        i.handle_sync_fault(cs(6), TrackerFault::Clear);
        assert_eq!(drain(&mut i), vec![change(State::Fault, State::Backup, Reason::FaultCleared)]);
        // On a Master: make-before-break like a tracker fault.
        let (mut i, t) = make_master(mbb(100), 0);
        i.handle_sync_fault(t, TrackerFault::Fault);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 0 }]);
        assert!(i.is_releasing());
    }

    // ---------------------------------------------------------------- robustness, display

    #[test]
    fn extreme_inputs_do_not_panic_or_hang() {
        let mut p = params(0, 1);
        p.advert_int_cs = 0;
        p.garp_master_delay_us = u64::MAX;
        p.garp_master_refresh_us = 1;
        p.garp_lower_prio_delay_us = u64::MAX;
        p.preempt_delay_us = u64::MAX;
        let mut i = Instance::new(p);
        assert_eq!(i.priority(), 1);
        assert_eq!(i.master_adver_int_cs(), 1);
        i.handle_startup(u64::MAX - 5);
        assert_eq!(i.master_down_deadline(), Some(u64::MAX));
        i.handle_advert(
            u64::MAX,
            Advert {
                src: v4(2),
                priority: 255,
                max_adver_int_cs: u16::MAX,
            },
        );
        i.handle_timeout(u64::MAX);
        assert_eq!(i.state(), State::Master);
        // Every timer saturates at u64::MAX; each fires at most once per call.
        for _ in 0..3 {
            i.handle_timeout(u64::MAX);
        }
        i.handle_advert(0, advert(2, 0));
        i.handle_priority_change(0, 0);
        i.handle_priority_change(u64::MAX, 254);
        i.handle_tracker_fault(u64::MAX, TrackerFault::Fault);
        i.handle_sync_fault(0, TrackerFault::InitHold);
        i.handle_sync_master(0);
        i.handle_sync_backup(u64::MAX);
        i.handle_tracker_fault(0, TrackerFault::Clear);
        i.handle_sync_fault(u64::MAX, TrackerFault::Clear);
        i.handle_timeout(u64::MAX);
        i.handle_fault(0, true);
        i.handle_fault(0, false);
        i.handle_shutdown(0);
        i.handle_timeout(u64::MAX);
        assert_eq!(i.state(), State::Initialize);
        assert!(drain(&mut i).len() < 100);
    }

    #[test]
    fn display() {
        assert_eq!(State::Initialize.to_string(), "INIT");
        assert_eq!(State::Backup.to_string(), "BACKUP");
        assert_eq!(State::Master.to_string(), "MASTER");
        assert_eq!(State::Fault.to_string(), "FAULT");
        assert_eq!(Reason::MasterDown { silent_us: None }.to_string(), "master down timer expired; no advert heard");
        assert_eq!(Reason::MasterDown { silent_us: Some(364_180) }.to_string(), "master down timer expired; last advert 364.1 ms ago");
        assert_eq!(
            Reason::HigherPriority {
                src: v4(2),
                priority: 150
            }
            .to_string(),
            "advert from 198.18.0.2 with higher priority 150"
        );
        assert_eq!(
            Reason::EqualPriorityHigherAddress { src: v4(3) }.to_string(),
            "advert from 198.18.0.3 with equal priority and higher address"
        );
        for r in [
            Reason::Startup,
            Reason::Owner,
            Reason::PriorityZero,
            Reason::Shutdown,
            Reason::HandedOver { src: v4(2) },
            Reason::NoSuccessor,
            Reason::FaultRaised,
            Reason::TrackerFailed,
            Reason::InitHold,
            Reason::SyncFault,
            Reason::Synced,
            Reason::FaultHandOver { successor: None },
            Reason::FaultHandOver { successor: Some(v4(2)) },
            Reason::FaultCleared,
        ] {
            assert!(!r.to_string().is_empty());
        }
    }

    // ---------------------------------------------------------------- hitless restart

    /// Resuming as an adopted Master: no state change, no VIPs added, no GARP; an advert at
    /// once and then every interval, like any Master.
    #[test]
    fn resume_master_announces_nothing_but_an_advert() {
        let mut i = Instance::new(params(100, 1));
        assert!(i.handle_resume_master(cs(0)));
        assert_eq!(i.state(), State::Master);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.poll_timeout(), Some(cs(100)));
        i.handle_timeout(cs(100));
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        // A higher-priority master is obeyed as by any Master (VIPs removed).
        i.handle_advert(cs(150), advert(2, 200));
        assert_eq!(i.state(), State::Backup);
        assert!(drain(&mut i).contains(&Action::RemoveVips));
    }

    /// A known fault (interface down) starts it as `handle_startup` does.
    #[test]
    fn resume_master_with_a_fault_starts_in_fault() {
        let mut i = Instance::new(params(100, 1));
        i.handle_fault(cs(0), true);
        assert!(!i.handle_resume_master(cs(0)));
        assert_eq!(i.state(), State::Fault);
    }

    // ---------------------------------------------------------------- advert schedule

    /// VRRPv3 at 10 ms, with the agent's 1 ms advert tick.
    fn ticked(priority: u8, last: u8) -> Params {
        Params { advert_tick_us: ADVERT_TICK_US, ..Params::new(Version::V3, priority, 1, v4(last)) }
    }

    /// A late wake-up does not push the later adverts back: the Adver_Timer restarts from
    /// its deadline, so over any run of N intervals exactly N adverts fall due (at 255 VRIDs
    /// x 10 ms, restarting from the wake-up lost one advert in nine).
    #[test]
    fn adver_timer_restarts_from_its_deadline_not_from_the_late_wake_up() {
        let mut p = params(100, 1);
        p.advert_int_cs = 1;
        let (mut i, t) = make_master(p, cs(0));
        let mut due = t + cs(1);
        assert_eq!(i.poll_timeout(), Some(due));
        for late_us in [0, 700, 9_999, 3] {
            i.handle_timeout(due + us(late_us));
            assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
            due += cs(1);
            assert_eq!(i.poll_timeout(), Some(due), "{late_us} us late");
        }
    }

    /// A wake-up a whole interval late (the process was stopped) sends one advert and
    /// restarts from then: no burst of catch-up adverts, none early.
    #[test]
    fn adver_timer_a_whole_interval_late_restarts_from_now_without_a_burst() {
        let mut p = params(100, 1);
        p.advert_int_cs = 1;
        let (mut i, t) = make_master(p, cs(0));
        let woke = t + cs(1) + us(25_300);
        i.handle_timeout(woke);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(i.poll_timeout(), Some(woke + cs(1)));
        i.handle_timeout(woke + cs(1) - 1);
        assert!(drain(&mut i).is_empty(), "no advert before a full interval");
    }

    /// With the tick, the Adver_Timer is rounded up to a whole tick: never early, at most one
    /// tick late, and masters that took over within the same tick fall due at the same
    /// instant (one wake-up sends them all), then stay together, a whole interval apart.
    #[test]
    fn adver_timer_on_the_tick_never_early_and_shared_by_instances_of_one_tick() {
        // Master_Down_Interval at priority 100 is 36 093 us: they become master at
        // 1036.093, .094, .463, .999 and 1037.001 ms.
        let starts = [us(0), us(1), us(370), us(906), us(908)];
        let mut masters: Vec<(Instance, Nanos)> = starts
            .iter()
            .enumerate()
            .map(|(n, &t0)| make_master(ticked(100, n as u8 + 1), cs(100) + t0))
            .collect();
        for (i, became) in &masters {
            let due = i.poll_timeout().expect("adver timer");
            assert!(due >= became + cs(1), "early: {due} < {became} + 10 ms");
            assert!(due < became + cs(1) + us(1_000), "more than a tick late: {due}, became master at {became}");
            assert_eq!(due % us(1_000), 0, "{due} is not on the 1 ms tick");
        }
        let dues: Vec<Nanos> = masters.iter().map(|(i, _)| i.poll_timeout().expect("adver timer")).collect();
        // The first four took over within one tick: one deadline. The fifth is a tick later.
        assert!(dues[..4].iter().all(|&d| d == dues[0]), "{dues:?}");
        assert_eq!(dues[4], dues[0] + us(1_000), "{dues:?}");
        // Ten intervals later they still share it, a whole interval apart each time.
        for round in 1..=10u64 {
            for (i, _) in masters.iter_mut() {
                let due = i.poll_timeout().expect("adver timer");
                i.handle_timeout(due + us(150));
                assert_eq!(drain(i), vec![Action::SendAdvert { priority: 100 }]);
                assert_eq!(i.poll_timeout(), Some(due + cs(1)));
            }
            let now: Vec<Nanos> = masters.iter().map(|(i, _)| i.poll_timeout().expect("adver timer")).collect();
            assert_eq!(now[..4], [dues[0] + round * cs(1); 4], "round {round}");
        }
    }

    /// The tick also applies to the restarts that do not come from the timer (a priority
    /// change sends an advert at once): the next one is still at least an interval later.
    #[test]
    fn adver_timer_restarted_off_the_tick_is_rounded_up_never_early() {
        let (mut i, _) = make_master(ticked(100, 1), cs(100));
        let at = cs(200) + us(4_321);
        i.handle_priority_change(at, 120);
        assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 120 }]);
        assert_eq!(i.poll_timeout(), Some(cs(200) + us(15_000)));
    }
