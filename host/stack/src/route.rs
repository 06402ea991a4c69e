//! The forwarding information base: longest-prefix-match routing (Linux `fib_table_lookup`).
//!
//! This is the routing stage of the IPv4 path: after `ip_rcv` validation (to choose local
//! delivery or forwarding) and on output (to choose the interface and the next hop that the
//! neighbour layer must resolve). A [`Fib`] holds [`Route`]s keyed by [`Prefix`]; a lookup
//! returns the most specific matching prefix and, among routes of that prefix, the one with the
//! lowest metric — the same tie-break as Linux's `priority`.
//!
//! Route kinds follow `ip route` types: `unicast` routes are either *connected* (the destination
//! is on the link: the next hop is the destination itself) or *via a gateway*; a *default* route
//! is simply the prefix `0.0.0.0/0`. `blackhole` discards silently, `unreachable` and `prohibit`
//! discard and ask the caller to send ICMP destination unreachable (host unreachable and
//! administratively prohibited respectively).
//!
//! Storage is one hash map per prefix length, searched from /32 down, skipping lengths that hold
//! no route (a 33-bit mask); a lookup costs at most one hash probe per populated length. The
//! maps hash with a fixed integer mixer rather than SipHash: the keys are routes the
//! administrator installed, so there is nothing for a remote sender to flood, and lookups run
//! for every forwarded packet.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

/// An interface index, as in Linux `ifindex` (the stack numbers its interfaces).
pub type IfIndex = u32;

/// An IPv4 network prefix such as `10.0.0.0/8`, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Prefix {
    /// The default-route prefix `0.0.0.0/0`.
    pub const DEFAULT: Prefix = Prefix {
        addr: Ipv4Addr::UNSPECIFIED,
        len: 0,
    };

    /// The loopback prefix `127.0.0.0/8`, all of it this host's ([`crate::loopback`]).
    pub const LOOPBACK: Prefix = Prefix {
        addr: Ipv4Addr::new(127, 0, 0, 0),
        len: 8,
    };

    /// A prefix of `len` bits at `addr`.
    ///
    /// Fails when `len > 32` or when `addr` has bits set beyond `len` (Linux answers
    /// `Invalid prefix for given prefix length`; we do not silently mask, since a typo such as
    /// `10.0.0.1/8` usually means the user meant something else).
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Prefix, RouteError> {
        if len > 32 {
            return Err(RouteError::BadPrefixLen(len));
        }
        if u32::from(addr) & !mask(len) != 0 {
            return Err(RouteError::HostBitsSet { addr, len });
        }
        Ok(Prefix { addr, len })
    }

    /// The host route `addr/32`.
    pub fn host(addr: Ipv4Addr) -> Prefix {
        Prefix { addr, len: 32 }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits (0..=32).
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for the zero-length (default) prefix.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// True when `ip` falls inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == u32::from(self.addr)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = RouteError;
    /// Parses `a.b.c.d/len`, or `a.b.c.d` as a /32.
    fn from_str(s: &str) -> Result<Prefix, RouteError> {
        let bad = || RouteError::Syntax(s.to_owned());
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
            None => (s, 32),
        };
        Prefix::new(a.parse().map_err(|_| bad())?, l)
    }
}

fn mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l => u32::MAX << (32 - u32::from(l.min(32))),
    }
}

/// Hashes a `u32` key with the murmur3 64-bit finaliser: every input bit reaches the low bits
/// the table indexes with, even for /24 keys whose low byte is always zero.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).rotate_left(5);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

type KeyMap<V> = HashMap<u32, V, BuildHasherDefault<KeyHasher>>;

/// What a route does with matching packets (the `ip route` type plus its next hop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// The prefix is on the link of `ifindex`: send straight to the destination
    /// (`ip route add 10.0.0.0/24 dev eth0`, or the route an address assignment creates).
    Connected {
        /// Output interface.
        ifindex: IfIndex,
    },
    /// Send to `gateway`, which is on the link of `ifindex` (`ip route add .. via G dev D`).
    Via {
        /// The next-hop router; the neighbour layer resolves this address, not the destination.
        gateway: Ipv4Addr,
        /// Output interface.
        ifindex: IfIndex,
    },
    /// Discard silently (`blackhole`).
    Blackhole,
    /// Discard and report ICMP host unreachable (`unreachable`).
    Unreachable,
    /// Discard and report ICMP communication administratively prohibited (`prohibit`).
    Prohibit,
}

impl RouteKind {
    fn ifindex(&self) -> Option<IfIndex> {
        match *self {
            RouteKind::Connected { ifindex } | RouteKind::Via { ifindex, .. } => Some(ifindex),
            _ => None,
        }
    }
}

/// One entry of the FIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destinations this route covers.
    pub prefix: Prefix,
    /// What to do with them.
    pub kind: RouteKind,
    /// Preference among routes of the same prefix: lower wins (Linux `metric`/`priority`).
    pub metric: u32,
}

impl Route {
    /// A connected (on-link) route with metric 0.
    pub fn connected(prefix: Prefix, ifindex: IfIndex) -> Route {
        Route {
            prefix,
            kind: RouteKind::Connected { ifindex },
            metric: 0,
        }
    }

    /// A static route through `gateway` with metric 0.
    pub fn via(prefix: Prefix, gateway: Ipv4Addr, ifindex: IfIndex) -> Route {
        Route {
            prefix,
            kind: RouteKind::Via { gateway, ifindex },
            metric: 0,
        }
    }

    /// The default route `0.0.0.0/0` through `gateway`.
    pub fn default_via(gateway: Ipv4Addr, ifindex: IfIndex) -> Route {
        Route::via(Prefix::DEFAULT, gateway, ifindex)
    }

    /// A reject-type route (`kind` should be one of blackhole/unreachable/prohibit).
    pub fn reject(prefix: Prefix, kind: RouteKind) -> Route {
        Route {
            prefix,
            kind,
            metric: 0,
        }
    }

    /// The same route with another metric.
    pub fn with_metric(mut self, metric: u32) -> Route {
        self.metric = metric;
        self
    }
}

/// Why a route could not be added, removed or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The prefix length is over 32.
    #[error("prefix length {0} is over 32")]
    BadPrefixLen(u8),
    /// The address has bits set past the prefix length.
    #[error("invalid prefix {addr}/{len}: host bits are set")]
    HostBitsSet {
        /// The address given.
        addr: Ipv4Addr,
        /// The prefix length given.
        len: u8,
    },
    /// A route with this prefix and metric exists already (Linux `EEXIST`).
    #[error("a route to {prefix} with metric {metric} exists")]
    Exists {
        /// The prefix.
        prefix: Prefix,
        /// The metric.
        metric: u32,
    },
    /// No route matches what was asked to be removed (Linux `ESRCH`).
    #[error("no such route to {0}")]
    NotFound(Prefix),
    /// The text is not `a.b.c.d/len`.
    #[error("cannot parse {0:?} as an IPv4 prefix")]
    Syntax(String),
}

/// The successful outcome of a lookup: where to send the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// The address the neighbour layer must resolve: the gateway, or the destination itself on
    /// a connected route.
    pub addr: Ipv4Addr,
    /// The gateway, when the route has one.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface.
    pub ifindex: IfIndex,
    /// The route that matched.
    pub route: Route,
}

/// Why a lookup found no usable next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No route covers the destination (Linux `ENETUNREACH`): ICMP net unreachable.
    #[error("network unreachable")]
    NoRoute,
    /// A blackhole route matched: drop silently.
    #[error("blackhole route")]
    Blackhole,
    /// An unreachable route matched: ICMP host unreachable.
    #[error("host unreachable (reject route)")]
    Unreachable,
    /// A prohibit route matched: ICMP administratively prohibited.
    #[error("administratively prohibited")]
    Prohibit,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Fib {
    /// Index = prefix length. Each vector is kept sorted by metric, lowest first.
    by_len: Vec<KeyMap<Vec<Route>>>,
    /// Bit `l` set when `by_len[l]` is non-empty.
    populated: u64,
    count: usize,
}

impl Default for Fib {
    fn default() -> Self {
        Fib::new()
    }
}

impl Fib {
    /// An empty table: every lookup answers [`LookupError::NoRoute`].
    pub fn new() -> Fib {
        Fib {
            by_len: (0..=32).map(|_| KeyMap::default()).collect(),
            populated: 0,
            count: 0,
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the table has no routes.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a route. Several routes may share a prefix if their metrics differ.
    pub fn add(&mut self, route: Route) -> Result<(), RouteError> {
        let l = usize::from(route.prefix.len);
        let key = u32::from(route.prefix.addr);
        if let Some(list) = self.by_len[l].get(&key) {
            if list.iter().any(|r| r.metric == route.metric) {
                return Err(RouteError::Exists {
                    prefix: route.prefix,
                    metric: route.metric,
                });
            }
        }
        let list = self.by_len[l].entry(key).or_default();
        let at = list.partition_point(|r| r.metric <= route.metric);
        list.insert(at, route);
        self.populated |= 1 << l;
        self.count += 1;
        Ok(())
    }

    /// Removes the route to `prefix` with `metric`, or the lowest-metric one when `metric` is
    /// `None` (as `ip route del PREFIX` does). Returns the removed route.
    pub fn remove(&mut self, prefix: Prefix, metric: Option<u32>) -> Result<Route, RouteError> {
        let l = usize::from(prefix.len);
        let key = u32::from(prefix.addr);
        let list = self.by_len[l]
            .get_mut(&key)
            .ok_or(RouteError::NotFound(prefix))?;
        let at = match metric {
            None => 0,
            Some(m) => list
                .iter()
                .position(|r| r.metric == m)
                .ok_or(RouteError::NotFound(prefix))?,
        };
        let removed = list.remove(at);
        if list.is_empty() {
            self.by_len[l].remove(&key);
            if self.by_len[l].is_empty() {
                self.populated &= !(1 << l);
            }
        }
        self.count -= 1;
        Ok(removed)
    }

    /// Removes every route that sends through `ifindex` (what Linux does when a device goes
    /// down). Returns how many were removed.
    pub fn remove_interface(&mut self, ifindex: IfIndex) -> usize {
        let mut removed = 0;
        for (l, map) in self.by_len.iter_mut().enumerate() {
            map.retain(|_, list| {
                let before = list.len();
                list.retain(|r| r.kind.ifindex() != Some(ifindex));
                removed += before - list.len();
                !list.is_empty()
            });
            if map.is_empty() {
                self.populated &= !(1 << l);
            }
        }
        self.count -= removed;
        removed
    }

    /// The route that a lookup of `dst` would use, whatever its kind.
    pub fn matching_route(&self, dst: Ipv4Addr) -> Option<&Route> {
        let d = u32::from(dst);
        let mut pending = self.populated;
        while pending != 0 {
            // Highest populated length first: that is the longest prefix.
            let l = 63 - pending.leading_zeros();
            pending &= !(1u64 << l);
            let len = l as u8;
            if let Some(list) = self.by_len[l as usize].get(&(d & mask(len))) {
                return list.first();
            }
        }
        None
    }

    /// Longest-prefix match for `dst`: the next hop and interface, or why there is none.
    pub fn lookup(&self, dst: Ipv4Addr) -> Result<NextHop, LookupError> {
        let route = *self.matching_route(dst).ok_or(LookupError::NoRoute)?;
        match route.kind {
            RouteKind::Connected { ifindex } => Ok(NextHop {
                addr: dst,
                gateway: None,
                ifindex,
                route,
            }),
            RouteKind::Via { gateway, ifindex } => Ok(NextHop {
                addr: gateway,
                gateway: Some(gateway),
                ifindex,
                route,
            }),
            RouteKind::Blackhole => Err(LookupError::Blackhole),
            RouteKind::Unreachable => Err(LookupError::Unreachable),
            RouteKind::Prohibit => Err(LookupError::Prohibit),
        }
    }

    /// Every route, most specific prefix first, then by address and metric: a stable order for
    /// listings and tests.
    pub fn routes(&self) -> Vec<Route> {
        let mut all: Vec<Route> = self
            .by_len
            .iter()
            .flat_map(|m| m.values().flatten().copied())
            .collect();
        all.sort_by_key(|r| (std::cmp::Reverse(r.prefix.len), r.prefix.addr, r.metric));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn table() -> Fib {
        let mut f = Fib::new();
        f.add(Route::connected(p("192.168.1.0/24"), 1)).unwrap();
        f.add(Route::connected(p("10.0.0.0/8"), 2)).unwrap();
        f.add(Route::via(p("10.1.0.0/16"), ip("192.168.1.254"), 1))
            .unwrap();
        f.add(Route::default_via(ip("192.168.1.1"), 1)).unwrap();
        f
    }

    #[test]
    fn longest_prefix_wins() {
        let f = table();
        let hop = f.lookup(ip("10.1.2.3")).unwrap();
        assert_eq!(hop.addr, ip("192.168.1.254"));
        assert_eq!(hop.ifindex, 1);
        assert_eq!(hop.route.prefix, p("10.1.0.0/16"));

        let hop = f.lookup(ip("10.2.2.3")).unwrap();
        assert_eq!(
            hop.addr,
            ip("10.2.2.3"),
            "connected: next hop is the destination"
        );
        assert_eq!(hop.gateway, None);
        assert_eq!(hop.ifindex, 2);
    }

    #[test]
    fn default_route_catches_everything_else() {
        let f = table();
        let hop = f.lookup(ip("8.8.8.8")).unwrap();
        assert_eq!(hop.addr, ip("192.168.1.1"));
        assert_eq!(hop.gateway, Some(ip("192.168.1.1")));
        assert!(hop.route.prefix.is_default());
    }

    #[test]
    fn no_route_without_default() {
        let mut f = Fib::new();
        assert_eq!(f.lookup(ip("1.2.3.4")), Err(LookupError::NoRoute));
        f.add(Route::connected(p("1.2.3.0/24"), 1)).unwrap();
        assert_eq!(f.lookup(ip("1.2.4.4")), Err(LookupError::NoRoute));
        assert!(f.lookup(ip("1.2.3.255")).is_ok());
    }

    #[test]
    fn host_route_beats_network_route() {
        let mut f = table();
        f.add(Route::via(
            Prefix::host(ip("192.168.1.77")),
            ip("192.168.1.2"),
            1,
        ))
        .unwrap();
        assert_eq!(
            f.lookup(ip("192.168.1.77")).unwrap().addr,
            ip("192.168.1.2")
        );
        assert_eq!(
            f.lookup(ip("192.168.1.78")).unwrap().addr,
            ip("192.168.1.78")
        );
    }

    #[test]
    fn reject_routes_report_their_kind() {
        let mut f = table();
        f.add(Route::reject(p("10.9.0.0/16"), RouteKind::Blackhole))
            .unwrap();
        f.add(Route::reject(p("10.8.0.0/16"), RouteKind::Unreachable))
            .unwrap();
        f.add(Route::reject(p("10.7.0.0/16"), RouteKind::Prohibit))
            .unwrap();
        assert_eq!(f.lookup(ip("10.9.1.1")), Err(LookupError::Blackhole));
        assert_eq!(f.lookup(ip("10.8.1.1")), Err(LookupError::Unreachable));
        assert_eq!(f.lookup(ip("10.7.1.1")), Err(LookupError::Prohibit));
        // A more specific unicast route inside a blackhole still wins.
        f.add(Route::connected(p("10.9.9.0/24"), 3)).unwrap();
        assert_eq!(f.lookup(ip("10.9.9.9")).unwrap().ifindex, 3);
    }

    #[test]
    fn lowest_metric_wins_and_removal_falls_back() {
        let mut f = Fib::new();
        f.add(Route::default_via(ip("10.0.0.1"), 1).with_metric(100))
            .unwrap();
        f.add(Route::default_via(ip("10.0.0.2"), 2).with_metric(50))
            .unwrap();
        f.add(Route::default_via(ip("10.0.0.3"), 3).with_metric(200))
            .unwrap();
        assert_eq!(f.lookup(ip("1.1.1.1")).unwrap().addr, ip("10.0.0.2"));
        assert_eq!(f.remove(Prefix::DEFAULT, None).unwrap().metric, 50);
        assert_eq!(f.lookup(ip("1.1.1.1")).unwrap().addr, ip("10.0.0.1"));
        f.remove(Prefix::DEFAULT, Some(100)).unwrap();
        assert_eq!(f.lookup(ip("1.1.1.1")).unwrap().addr, ip("10.0.0.3"));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn removing_a_specific_route_exposes_the_shorter_one() {
        let mut f = table();
        f.remove(p("10.1.0.0/16"), None).unwrap();
        assert_eq!(f.lookup(ip("10.1.2.3")).unwrap().ifindex, 2);
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn duplicate_prefix_and_metric_is_refused() {
        let mut f = table();
        let err = f.add(Route::connected(p("10.0.0.0/8"), 5)).unwrap_err();
        assert_eq!(
            err,
            RouteError::Exists {
                prefix: p("10.0.0.0/8"),
                metric: 0
            }
        );
        // Same prefix, other metric: fine.
        f.add(Route::connected(p("10.0.0.0/8"), 5).with_metric(10))
            .unwrap();
        assert_eq!(f.lookup(ip("10.3.3.3")).unwrap().ifindex, 2);
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn removing_a_missing_route_is_an_error() {
        let mut f = table();
        assert_eq!(
            f.remove(p("172.16.0.0/12"), None),
            Err(RouteError::NotFound(p("172.16.0.0/12")))
        );
        assert_eq!(
            f.remove(p("10.0.0.0/8"), Some(7)),
            Err(RouteError::NotFound(p("10.0.0.0/8")))
        );
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert_eq!(
            Prefix::new(ip("10.0.0.1"), 8),
            Err(RouteError::HostBitsSet {
                addr: ip("10.0.0.1"),
                len: 8
            })
        );
        assert_eq!(
            Prefix::new(ip("10.0.0.0"), 33),
            Err(RouteError::BadPrefixLen(33))
        );
        assert!(matches!(
            "10.0.0.0/x".parse::<Prefix>(),
            Err(RouteError::Syntax(_))
        ));
        assert!(matches!(
            "10.0.0/8".parse::<Prefix>(),
            Err(RouteError::Syntax(_))
        ));
        assert_eq!(p("1.2.3.4"), Prefix::host(ip("1.2.3.4")));
        assert_eq!(p("0.0.0.0/0"), Prefix::DEFAULT);
        assert_eq!(p("172.16.0.0/12").to_string(), "172.16.0.0/12");
    }

    #[test]
    fn interface_down_flushes_its_routes() {
        let mut f = table();
        f.add(Route::reject(p("10.9.0.0/16"), RouteKind::Blackhole))
            .unwrap();
        assert_eq!(f.remove_interface(1), 3);
        assert_eq!(f.len(), 2);
        assert_eq!(f.lookup(ip("8.8.8.8")), Err(LookupError::NoRoute));
        assert_eq!(f.lookup(ip("10.1.1.1")).unwrap().ifindex, 2);
        assert_eq!(f.lookup(ip("10.9.1.1")), Err(LookupError::Blackhole));
    }

    #[test]
    fn listing_is_most_specific_first() {
        let f = table();
        let lens: Vec<u8> = f.routes().iter().map(|r| r.prefix.prefix_len()).collect();
        assert_eq!(lens, vec![24, 16, 8, 0]);
    }

    #[test]
    fn many_routes_all_resolve_to_their_own_prefix() {
        let mut f = Fib::new();
        f.add(Route::default_via(ip("10.255.255.254"), 9)).unwrap();
        for i in 0..1000u32 {
            let a = Ipv4Addr::from(0x0a00_0000 | (i << 8));
            f.add(Route::connected(Prefix::new(a, 24).unwrap(), i))
                .unwrap();
        }
        for i in (0..1000u32).step_by(37) {
            let a = Ipv4Addr::from(0x0a00_0000 | (i << 8) | 42);
            assert_eq!(f.lookup(a).unwrap().ifindex, i);
        }
        assert_eq!(f.lookup(ip("11.0.0.1")).unwrap().ifindex, 9);
    }

    /// A tiny deterministic generator, so the model test needs no extra crate.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn lookup_agrees_with_a_linear_scan_model() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        let mut f = Fib::new();
        let mut model: Vec<Route> = Vec::new();
        // Addresses drawn from a small space so prefixes nest and collide often.
        let addr = |r: &mut XorShift| Ipv4Addr::from(0x0a00_0000 | (r.next() as u32 & 0x00ff_ff0f));
        for i in 0..3000u32 {
            let len = (rng.next() % 33) as u8;
            let a = u32::from(addr(&mut rng)) & mask(len);
            let prefix = Prefix::new(Ipv4Addr::from(a), len).unwrap();
            let metric = (rng.next() % 4) as u32;
            if rng.next() % 4 == 0 && !model.is_empty() {
                let victim = model.swap_remove((rng.next() % model.len() as u64) as usize);
                assert_eq!(f.remove(victim.prefix, Some(victim.metric)), Ok(victim));
                continue;
            }
            let kind = match rng.next() % 5 {
                0 => RouteKind::Blackhole,
                1 => RouteKind::Via {
                    gateway: Ipv4Addr::from(i),
                    ifindex: i,
                },
                _ => RouteKind::Connected { ifindex: i },
            };
            let route = Route {
                prefix,
                kind,
                metric,
            };
            let dup = model
                .iter()
                .any(|r| r.prefix == prefix && r.metric == metric);
            assert_eq!(f.add(route).is_err(), dup);
            if !dup {
                model.push(route);
            }
        }
        assert_eq!(f.len(), model.len());
        for _ in 0..3000 {
            let dst = addr(&mut rng);
            let expect = model
                .iter()
                .filter(|r| r.prefix.contains(dst))
                .min_by_key(|r| (std::cmp::Reverse(r.prefix.prefix_len()), r.metric));
            assert_eq!(f.matching_route(dst), expect, "dst {dst}");
        }
    }
}
