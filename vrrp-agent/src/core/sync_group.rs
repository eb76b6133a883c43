//! `vrrp_sync_group`: member instances move together (keepalived 2.2.7 vrrp_sync.c,
//! `try_up_instance` / `down_instance` in vrrp_scheduler.c and vrrp_track.c).
//!
//! - One member in FAULT (its link, or its weight-0 trackers) takes every other member to
//!   FAULT; they come back when no member is faulty any more. A member whose weight-0
//!   trackers have no result yet holds the others the same way (keepalived's INIT).
//! - A member becomes MASTER only when every other member wants to as well (its own
//!   Master_Down_Timer ran out), or when the group already is MASTER: a member whose timer
//!   runs out alone waits, with its timer restarted (`vrrp_sync_can_goto_master`: prefer
//!   BACKUP to thrashing). Then every member goes MASTER.
//! - A member leaving MASTER for BACKUP (a higher-priority advert) takes the other masters
//!   to BACKUP.
//!
//! Sans-IO. Inputs: every state transition of a member (`handle_transition`, from the
//! member's `Action::StateChange`), its own faults (`handle_own_fault`, from
//! `Instance::own_fault` after any fault input) and its wish to become master
//! (`handle_want_master`, from `Instance::poll_want_master`). Outputs: per-member
//! commands (`poll_command`) the driver applies with `Instance::handle_sync_master`,
//! `handle_sync_backup` and `handle_sync_fault`, then feeds the transitions they cause
//! back in (they are recognised by [`Reason::Synced`] / [`Reason::SyncFault`] and cause no
//! further commands); and group state changes (`poll_change`) to log and to run the
//! group's notify scripts on.
//!
//! After a reload rebuilt the groups, `resync` tells each group where its running members
//! are (including the sync fault their old group left them with).
//!
//! Every member's FSM must be gated (`Instance::set_sync_gated(true)`).

use std::collections::VecDeque;
use std::fmt;

use crate::config::Config;
use crate::core::fsm::{Reason, State, TrackerFault};

/// What the driver does to one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCommand {
    /// `Instance::handle_sync_master`.
    Master,
    /// `Instance::handle_sync_backup`.
    Backup,
    /// `Instance::handle_sync_fault` with this value (`Clear` lets it come back).
    Fault(TrackerFault),
}

/// The group's state changed. `Display` gives keepalived's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    pub group: String,
    pub from: State,
    /// `Initialize`: held until every member's weight-0 trackers have a first result.
    pub to: State,
}

impl fmt::Display for GroupChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to {
            State::Initialize => write!(
                f,
                "VRRP_Group({}) waiting for a first result of every member's weight-0 trackers",
                self.group
            ),
            to => write!(f, "VRRP_Group({}) Syncing instances to {to} state", self.group),
        }
    }
}

/// Where a running member is, for [`SyncGroup::resync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberNow {
    /// `Instance::state`.
    pub state: State,
    /// `Instance::own_fault`.
    pub own: TrackerFault,
    /// `Instance::sync_fault`: what its previous group (if any) last told it.
    pub sync: TrackerFault,
    /// `Instance::wants_master`: its timer ran out and it waits for its group (the FSM
    /// says so only when the wish changes, so a rebuilt group must be told).
    pub wants: bool,
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    state: State,
    /// Its own faults (link, trackers).
    own: TrackerFault,
    /// Its Master_Down_Timer ran out and it accepted no advert since.
    wants: bool,
    /// The last `SyncCommand::Fault` value sent to it.
    sync: TrackerFault,
}

/// The worse of two faults: Fault over InitHold over Clear.
fn worst(a: TrackerFault, b: TrackerFault) -> TrackerFault {
    use TrackerFault::{Clear, Fault, InitHold};
    match (a, b) {
        (Fault, _) | (_, Fault) => Fault,
        (InitHold, _) | (_, InitHold) => InitHold,
        (Clear, Clear) => Clear,
    }
}

/// One sync group's state. Members are addressed by their index in the list given to
/// [`SyncGroup::new`] ([`SyncGroup::member_index`] maps names).
#[derive(Debug, Clone)]
pub struct SyncGroup {
    name: String,
    members: Vec<Member>,
    state: State,
    commands: VecDeque<(usize, SyncCommand)>,
    changes: VecDeque<GroupChange>,
}

impl SyncGroup {
    /// A group of instances (by name) in their initial state: not started, no faults.
    pub fn new(name: &str, members: &[String]) -> Self {
        SyncGroup {
            name: name.to_string(),
            members: members
                .iter()
                .map(|m| Member {
                    name: m.clone(),
                    state: State::Initialize,
                    own: TrackerFault::Clear,
                    wants: false,
                    sync: TrackerFault::Clear,
                })
                .collect(),
            state: State::Initialize,
            commands: VecDeque::new(),
            changes: VecDeque::new(),
        }
    }

    /// Every `vrrp_sync_group` of a configuration (the parser keeps only existing members,
    /// each in one group).
    pub fn from_config(cfg: &Config) -> Vec<SyncGroup> {
        cfg.sync_groups.iter().map(|g| SyncGroup::new(&g.name, &g.instances)).collect()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's state: Initialize (not started, or held), Backup, Master or Fault.
    pub fn state(&self) -> State {
        self.state
    }

    pub fn member_index(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }

    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.name.as_str())
    }

    /// Next command, FIFO: `(member index, command)`.
    pub fn poll_command(&mut self) -> Option<(usize, SyncCommand)> {
        self.commands.pop_front()
    }

    /// Next group state change, FIFO.
    pub fn poll_change(&mut self) -> Option<GroupChange> {
        self.changes.pop_front()
    }

    /// A group (re)built by a reload learns where its running members are (`now` gives
    /// each member's [`MemberNow`] by name, `None` for one not running). The group's state
    /// is set from them, silently (no [`GroupChange`]: nothing moved), and the commands
    /// that bring every member in line are queued: a `Fault` value a member carries from
    /// its old group that its new group does not warrant is cleared (or raised, if a new
    /// sibling is faulty). No member is made Master or Backup by a reload. The driver
    /// applies them as any other command.
    pub fn resync(&mut self, now: impl Fn(&str) -> Option<MemberNow>) {
        for m in &mut self.members {
            let n = now(&m.name).unwrap_or(MemberNow {
                state: State::Initialize,
                own: TrackerFault::Clear,
                sync: TrackerFault::Clear,
                wants: false,
            });
            m.state = n.state;
            m.own = n.own;
            m.sync = n.sync;
            m.wants = n.wants && n.state == State::Backup;
        }
        let changes = self.changes.len();
        self.recompute_faults();
        self.state = match self.faulty() {
            TrackerFault::Fault => State::Fault,
            TrackerFault::InitHold => State::Initialize,
            // Master only when every running member is: the members are not moved by a
            // reload (keepalived does not order them around either); a Backup member next to
            // a Master one joins it through its own timer and the group's want rule.
            TrackerFault::Clear
                if self.members.iter().any(|m| m.state == State::Master)
                    && self.members.iter().all(|m| matches!(m.state, State::Master | State::Initialize)) =>
            {
                State::Master
            }
            TrackerFault::Clear if self.members.iter().any(|m| m.state != State::Initialize) => State::Backup,
            TrackerFault::Clear => State::Initialize,
        };
        self.changes.truncate(changes);
    }

    /// A member's own faults changed (`Instance::own_fault`). Out-of-range indexes are
    /// ignored.
    pub fn handle_own_fault(&mut self, member: usize, own: TrackerFault) {
        let Some(m) = self.members.get_mut(member) else { return };
        if m.own == own {
            return;
        }
        m.own = own;
        self.recompute_faults();
    }

    /// A member's state transition (every `Action::StateChange` it emits).
    pub fn handle_transition(&mut self, member: usize, from: State, to: State, reason: &Reason) {
        let Some(m) = self.members.get_mut(member) else { return };
        m.state = to;
        if to != State::Backup {
            m.wants = false;
        }
        if matches!(reason, Reason::Synced | Reason::SyncFault) || self.faulty() != TrackerFault::Clear {
            return;
        }
        match (from, to) {
            (_, State::Master) => self.go_master(),
            (State::Master, State::Backup) if self.state == State::Master => {
                self.set_state(State::Backup);
                for (i, m) in self.members.iter().enumerate() {
                    if i != member && m.state == State::Master {
                        self.commands.push_back((i, SyncCommand::Backup));
                    }
                }
            }
            (State::Master, State::Backup) => {}
            (_, State::Backup) if matches!(self.state, State::Initialize | State::Fault) => {
                self.set_state(State::Backup);
            }
            _ => {}
        }
    }

    /// A member's wish to become master changed (`Instance::poll_want_master`). When every
    /// member wants it (or is master already), or the group is master, all go MASTER.
    pub fn handle_want_master(&mut self, member: usize, wants: bool) {
        let Some(m) = self.members.get_mut(member) else { return };
        m.wants = wants;
        if !wants || self.faulty() != TrackerFault::Clear {
            return;
        }
        let all = self.members.iter().all(|m| m.wants || m.state == State::Master);
        if self.state == State::Master || all {
            self.go_master();
        }
    }

    /// The worst own fault of any member.
    fn faulty(&self) -> TrackerFault {
        self.members.iter().fold(TrackerFault::Clear, |acc, m| worst(acc, m.own))
    }

    fn go_master(&mut self) {
        self.set_state(State::Master);
        for (i, m) in self.members.iter_mut().enumerate() {
            if m.state == State::Backup {
                m.wants = false;
                self.commands.push_back((i, SyncCommand::Master));
            }
        }
    }

    fn recompute_faults(&mut self) {
        for i in 0..self.members.len() {
            let others = self
                .members
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(TrackerFault::Clear, |acc, (_, m)| worst(acc, m.own));
            if self.members[i].sync != others {
                self.members[i].sync = others;
                self.commands.push_back((i, SyncCommand::Fault(others)));
            }
        }
        match self.faulty() {
            TrackerFault::Fault => self.set_state(State::Fault),
            TrackerFault::InitHold => self.set_state(State::Initialize),
            TrackerFault::Clear => {
                if matches!(self.state, State::Fault | State::Initialize) {
                    // Members still Master were handing over and heard no successor: they
                    // carry on as masters.
                    if self.members.iter().any(|m| m.state == State::Master) {
                        self.set_state(State::Master);
                    } else if self.members.iter().any(|m| m.state != State::Initialize) {
                        self.set_state(State::Backup);
                    }
                }
            }
        }
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            self.changes.push_back(GroupChange { group: self.name.clone(), from: self.state, to });
            self.state = to;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn group() -> SyncGroup {
        SyncGroup::new("G", &["VI_1".to_string(), "VI_2".to_string(), "VI_3".to_string()])
    }

    fn commands(g: &mut SyncGroup) -> Vec<(usize, SyncCommand)> {
        std::iter::from_fn(|| g.poll_command()).collect()
    }

    fn started(g: &mut SyncGroup, state: State) {
        for i in 0..3 {
            g.handle_transition(i, State::Initialize, State::Backup, &Reason::Startup);
        }
        if state == State::Master {
            for i in 0..3 {
                g.handle_want_master(i, true);
            }
            let cmds = commands(g);
            assert_eq!(cmds.len(), 3);
            for i in 0..3 {
                g.handle_transition(i, State::Backup, State::Master, &Reason::Synced);
            }
        }
        while g.poll_change().is_some() {}
    }

    fn now(list: &[(&'static str, State, TrackerFault, TrackerFault)]) -> impl Fn(&str) -> Option<MemberNow> {
        let list = list.to_vec();
        move |name: &str| {
            list.iter().find(|m| m.0 == name).map(|&(_, state, own, sync)| MemberNow { state, own, sync, wants: false })
        }
    }

    #[test]
    fn resync_after_reload_knows_the_group_is_master() {
        use TrackerFault::Clear;
        let mut g = group();
        g.resync(now(&[
            ("VI_1", State::Master, Clear, Clear),
            ("VI_2", State::Master, Clear, Clear),
            ("VI_3", State::Master, Clear, Clear),
        ]));
        assert_eq!(g.state(), State::Master);
        assert_eq!(commands(&mut g), vec![]);
        assert_eq!(g.poll_change(), None, "nothing moved: no group notify");
        // One member steps down: its siblings follow.
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9));
        g.handle_transition(1, State::Master, State::Backup, &Reason::HigherPriority { src, priority: 250 });
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Backup), (2, SyncCommand::Backup)]);
        // A Backup member next to a Master one is not moved by the reload: the group is
        // Backup until the member's own timer says it wants to be Master.
        let mut g = SyncGroup::new("G", &["VI_1".to_string(), "VI_2".to_string()]);
        g.resync(now(&[("VI_1", State::Master, Clear, Clear), ("VI_2", State::Backup, Clear, Clear)]));
        assert_eq!(g.state(), State::Backup);
        assert_eq!(commands(&mut g), vec![]);
        g.handle_want_master(1, true);
        assert_eq!(commands(&mut g), vec![(1, SyncCommand::Master)]);
        // A member that wanted to be Master before the reload is still known to want it.
        let mut g = SyncGroup::new("G", &["VI_1".to_string(), "VI_2".to_string()]);
        g.resync(|name: &str| {
            Some(MemberNow { state: State::Backup, own: Clear, sync: Clear, wants: name == "VI_1" })
        });
        g.handle_want_master(1, true);
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Master), (1, SyncCommand::Master)]);
    }

    #[test]
    fn resync_clears_a_fault_from_a_member_removed_by_the_reload() {
        use TrackerFault::{Clear, Fault};
        // VI_3 (link down) held VI_1 and VI_2 in FAULT; the reload dropped it from G.
        let mut g = SyncGroup::new("G", &["VI_1".to_string(), "VI_2".to_string()]);
        g.resync(now(&[("VI_1", State::Fault, Clear, Fault), ("VI_2", State::Fault, Clear, Fault)]));
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Fault(Clear)), (1, SyncCommand::Fault(Clear))]);
        assert_eq!(g.state(), State::Backup);
        // A faulty member moved in: its new siblings hear of it.
        let mut g = SyncGroup::new("G", &["VI_1".to_string(), "VI_2".to_string()]);
        g.resync(now(&[("VI_1", State::Backup, Clear, Clear), ("VI_2", State::Fault, Fault, Clear)]));
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Fault(Fault))]);
        assert_eq!(g.state(), State::Fault);
    }

    #[test]
    fn one_fault_takes_the_others_to_fault_and_back() {
        let mut g = group();
        started(&mut g, State::Master);
        use TrackerFault::{Clear, Fault};
        g.handle_own_fault(1, Fault);
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Fault(Fault)), (2, SyncCommand::Fault(Fault))]);
        assert_eq!(g.poll_change().unwrap().to_string(), "VRRP_Group(G) Syncing instances to FAULT state");
        assert_eq!(g.state(), State::Fault);
        // The members' transitions (here without make-before-break) change nothing more.
        g.handle_transition(1, State::Master, State::Fault, &Reason::TrackerFailed);
        for i in [0, 2] {
            g.handle_transition(i, State::Master, State::Fault, &Reason::SyncFault);
        }
        assert_eq!(commands(&mut g), vec![]);
        // A second faulty member: the first now hears of it too.
        g.handle_own_fault(2, Fault);
        assert_eq!(commands(&mut g), vec![(1, SyncCommand::Fault(Fault))]);
        g.handle_own_fault(1, Clear);
        assert_eq!(commands(&mut g), vec![(2, SyncCommand::Fault(Clear))]);
        assert_eq!(g.state(), State::Fault);
        g.handle_own_fault(2, Clear);
        assert_eq!(
            commands(&mut g),
            vec![(0, SyncCommand::Fault(Clear)), (1, SyncCommand::Fault(Clear))]
        );
        assert_eq!(g.state(), State::Backup);
        assert_eq!(g.poll_change().unwrap().to_string(), "VRRP_Group(G) Syncing instances to BACKUP state");
    }

    #[test]
    fn fault_cleared_while_masters_still_hand_over_leaves_the_group_master() {
        let mut g = group();
        started(&mut g, State::Master);
        // Members hand over make-before-break: they stay Master (no transition) meanwhile.
        g.handle_own_fault(0, TrackerFault::Fault);
        commands(&mut g);
        g.handle_own_fault(0, TrackerFault::Clear);
        assert_eq!(g.state(), State::Master);
        // One of them had heard its successor and ends in Backup: the others follow.
        g.handle_transition(
            0,
            State::Master,
            State::Backup,
            &Reason::FaultHandOver { successor: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))) },
        );
        let cmds = commands(&mut g);
        assert!(cmds.contains(&(1, SyncCommand::Backup)) && cmds.contains(&(2, SyncCommand::Backup)), "{cmds:?}");
        assert_eq!(g.state(), State::Backup);
    }

    #[test]
    fn init_hold_holds_the_others() {
        let mut g = group();
        g.handle_own_fault(0, TrackerFault::InitHold);
        assert_eq!(
            commands(&mut g),
            vec![(1, SyncCommand::Fault(TrackerFault::InitHold)), (2, SyncCommand::Fault(TrackerFault::InitHold))]
        );
        assert_eq!(g.state(), State::Initialize);
        // A real fault wins.
        g.handle_own_fault(1, TrackerFault::Fault);
        assert_eq!(g.state(), State::Fault);
        assert_eq!(
            commands(&mut g),
            vec![(0, SyncCommand::Fault(TrackerFault::Fault)), (2, SyncCommand::Fault(TrackerFault::Fault))]
        );
    }

    #[test]
    fn master_only_when_every_member_wants_it() {
        let mut g = group();
        started(&mut g, State::Backup);
        g.handle_want_master(0, true);
        g.handle_want_master(1, true);
        assert_eq!(commands(&mut g), vec![]);
        // One withdraws (it accepted an advert), the last one wants: still not all.
        g.handle_want_master(0, false);
        g.handle_want_master(2, true);
        assert_eq!(commands(&mut g), vec![]);
        g.handle_want_master(0, true);
        assert_eq!(
            commands(&mut g),
            vec![(0, SyncCommand::Master), (1, SyncCommand::Master), (2, SyncCommand::Master)]
        );
        assert_eq!(g.poll_change().unwrap().to_string(), "VRRP_Group(G) Syncing instances to MASTER state");
        // The transitions the commands cause change nothing more.
        for i in 0..3 {
            g.handle_transition(i, State::Backup, State::Master, &Reason::Synced);
        }
        assert_eq!(commands(&mut g), vec![]);
        assert_eq!(g.poll_change(), None);
    }

    #[test]
    fn one_master_stepping_down_takes_the_others_to_backup() {
        let mut g = group();
        started(&mut g, State::Master);
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9));
        g.handle_transition(1, State::Master, State::Backup, &Reason::HigherPriority { src, priority: 250 });
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Backup), (2, SyncCommand::Backup)]);
        assert_eq!(g.state(), State::Backup);
        for i in [0, 2] {
            g.handle_transition(i, State::Master, State::Backup, &Reason::Synced);
        }
        assert_eq!(commands(&mut g), vec![]);
    }

    #[test]
    fn a_member_going_master_by_itself_takes_the_others() {
        // The address owner goes straight to MASTER at startup.
        let mut g = group();
        started(&mut g, State::Backup);
        g.handle_transition(2, State::Backup, State::Master, &Reason::FaultCleared);
        assert_eq!(commands(&mut g), vec![(0, SyncCommand::Master), (1, SyncCommand::Master)]);
        // Group already master: a late member's want is granted at once.
        let mut g = group();
        started(&mut g, State::Master);
        g.handle_transition(1, State::Master, State::Backup, &Reason::Synced);
        g.handle_want_master(1, true);
        assert_eq!(commands(&mut g), vec![(1, SyncCommand::Master)]);
    }

    #[test]
    fn out_of_range_members_are_ignored() {
        let mut g = group();
        g.handle_own_fault(7, TrackerFault::Fault);
        g.handle_want_master(7, true);
        g.handle_transition(7, State::Backup, State::Master, &Reason::MasterDown { silent_us: None });
        assert_eq!(commands(&mut g), vec![]);
        assert_eq!(g.member_index("VI_2"), Some(1));
        assert_eq!(g.member_names().count(), 3);
    }
}
