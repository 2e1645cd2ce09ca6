//! The plan drawn as text at compile time: the Mermaid and Graphviz DOT constants that
//! `orchestration!` generates.
//!
//! The labels show each service's retry policy and timeout, which are constants of the
//! service's `Service` impl, not tokens the macro can read: so the text is written by `const fn`s
//! when the constants are evaluated. Each drawing runs twice, once into a `Text<0>` to measure
//! it, then into a `Text<N>` of exactly that length.

use core::time::Duration;

use crate::retry::RetryPolicy;

/// An orchestration's graph, as the generated code describes it.
pub struct Plan {
    /// The orchestration's name.
    pub name: &'static str,
    /// Every service, in listing order.
    pub services: &'static [Planned],
    /// The longest chain of dependencies, as indices into `services`, in dependency order.
    pub critical_path: &'static [usize],
}

/// One service of a [`Plan`].
pub struct Planned {
    /// The service's name.
    pub name: &'static str,
    /// Its dependencies: each one's index into [`Plan::services`], and whether it is optional
    /// (an `Option<&T>` parameter).
    pub deps: &'static [(usize, bool)],
    /// Its retry policy.
    pub retry: RetryPolicy,
    /// Its per-attempt timeout.
    pub timeout: Option<Duration>,
}

/// Text written by a `const fn`: the first `N` bytes are kept, and `len` counts them all, so a
/// `Text<0>` measures what a `Text<len>` holds.
pub struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }

    /// How many bytes were written.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text. Panics (at compile time, where it is called) if it did not fit in `N` bytes.
    pub const fn as_str(&self) -> &str {
        assert!(self.len == N, "orch: a drawing was measured wrong");
        match core::str::from_utf8(&self.bytes) {
            Ok(text) => text,
            Err(_) => panic!("orch: a drawing is not UTF-8"),
        }
    }

    const fn byte(&mut self, byte: u8) {
        if self.len < N {
            self.bytes[self.len] = byte;
        }
        self.len += 1;
    }

    const fn str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            self.byte(bytes[i]);
            i += 1;
        }
    }

    const fn uint(&mut self, value: u128) {
        let mut digits = [0u8; 39];
        let mut count = 0;
        let mut rest = value;
        loop {
            digits[count] = b'0' + (rest % 10) as u8;
            count += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        while count > 0 {
            count -= 1;
            self.byte(digits[count]);
        }
    }

    /// `whole.fraction` with the fraction's trailing zeros cut: `fraction` has `places` digits.
    const fn decimal(&mut self, whole: u128, fraction: u128, places: u32) {
        self.uint(whole);
        if fraction == 0 {
            return;
        }
        self.str(".");
        let mut scale = 10u128.pow(places - 1);
        let mut rest = fraction;
        while rest > 0 {
            self.uint(rest / scale);
            rest %= scale;
            scale /= 10;
        }
    }

    /// `1.5 s`, `100 ms`, `250 µs`, `12 ns`: the largest unit that keeps a whole part, with up
    /// to three decimals. A no-break space holds the unit to its number when a label wraps.
    const fn duration(&mut self, duration: Duration) {
        let nanos = duration.as_nanos();
        let (unit, name) = if nanos >= 1_000_000_000 {
            (1_000_000_000, "\u{a0}s")
        } else if nanos >= 1_000_000 {
            (1_000_000, "\u{a0}ms")
        } else if nanos >= 1_000 {
            (1_000, "\u{a0}µs")
        } else {
            (1, "\u{a0}ns")
        };
        let thousandths = (nanos * 1000 / unit) % 1000;
        self.decimal(nanos / unit, thousandths, 3);
        self.str(name);
    }

    /// A non-negative factor rounded to two decimals.
    const fn factor(&mut self, value: f64) {
        let hundredths = (value * 100.0 + 0.5) as u128;
        self.decimal(hundredths / 100, hundredths % 100, 2);
    }

    /// What a label says of a service's retries and timeout, one `separator` before each line.
    const fn settings(&mut self, service: &Planned, separator: &str) {
        let retry = &service.retry;
        let retries = retry.max_retries();
        if retries > 0 {
            self.str(separator);
            self.uint(retries as u128);
            self.str(if retries == 1 {
                " retry, "
            } else {
                " retries, "
            });
            self.duration(retry.initial_delay());
            self.str(" ×");
            self.factor(retry.multiplier());
            self.str(" up to ");
            self.duration(retry.max_delay());
            if retry.jitter() > 0.0 {
                self.str(", ±");
                self.factor(retry.jitter() * 100.0);
                self.str("%");
            }
            if let Some(budget) = retry.max_elapsed() {
                self.str(", within ");
                self.duration(budget);
            }
        }
        if let Some(timeout) = service.timeout {
            self.str(separator);
            self.str("timeout ");
            self.duration(timeout);
        }
    }
}

/// Whether `from -> to` is an edge of the critical path.
const fn critical_edge(plan: &Plan, from: usize, to: usize) -> bool {
    let path = plan.critical_path;
    let mut i = 1;
    while i < path.len() {
        if path[i - 1] == from && path[i] == to {
            return true;
        }
        i += 1;
    }
    false
}

const fn on_critical_path(plan: &Plan, service: usize) -> bool {
    let mut i = 0;
    while i < plan.critical_path.len() {
        if plan.critical_path[i] == service {
            return true;
        }
        i += 1;
    }
    false
}

/// The plan as a Mermaid flowchart (`graph TD`): one node per service, labelled with its retry
/// policy and timeout; an arrow from each dependency to its dependent, dotted when the
/// dependency is optional; the critical path drawn thick.
pub const fn mermaid<const N: usize>(plan: &Plan) -> Text<N> {
    let mut text = Text::new();
    text.str("---\ntitle: ");
    text.str(plan.name);
    text.str("\n---\ngraph TD\n");
    let services = plan.services;
    let mut i = 0;
    while i < services.len() {
        // Nodes are named by index: a service may be called `end` or `graph`, which Mermaid
        // reads as keywords.
        text.str("    s");
        text.uint(i as u128);
        text.str("[\"");
        text.str(services[i].name);
        text.settings(&services[i], "<br/>");
        text.str("\"]\n");
        i += 1;
    }
    // Mermaid numbers links in the order they are written; the critical ones are styled by
    // number at the end.
    let mut link = 0;
    let mut to = 0;
    while to < services.len() {
        let deps = services[to].deps;
        let mut d = 0;
        while d < deps.len() {
            let (from, optional) = deps[d];
            text.str("    s");
            text.uint(from as u128);
            text.str(if optional { " -.-> s" } else { " --> s" });
            text.uint(to as u128);
            text.str("\n");
            d += 1;
        }
        to += 1;
    }
    if plan.critical_path.is_empty() {
        return text;
    }
    text.str("    classDef critical stroke-width:3px\n    class ");
    let mut k = 0;
    while k < plan.critical_path.len() {
        if k > 0 {
            text.str(",");
        }
        text.str("s");
        text.uint(plan.critical_path[k] as u128);
        k += 1;
    }
    text.str(" critical\n");
    if plan.critical_path.len() < 2 {
        return text;
    }
    text.str("    linkStyle ");
    let mut first = true;
    to = 0;
    while to < services.len() {
        let deps = services[to].deps;
        let mut d = 0;
        while d < deps.len() {
            if critical_edge(plan, deps[d].0, to) {
                if !first {
                    text.str(",");
                }
                first = false;
                text.uint(link as u128);
            }
            link += 1;
            d += 1;
        }
        to += 1;
    }
    text.str(" stroke-width:3px\n");
    text
}

/// The plan as a Graphviz DOT digraph: the same nodes, labels and arrows as [`mermaid`]
/// (dashed for optional dependencies, thick along the critical path).
pub const fn dot<const N: usize>(plan: &Plan) -> Text<N> {
    let mut text = Text::new();
    text.str("digraph \"");
    text.str(plan.name);
    text.str("\" {\n    node [shape=box];\n");
    let services = plan.services;
    let mut i = 0;
    while i < services.len() {
        text.str("    \"");
        text.str(services[i].name);
        text.str("\" [label=\"");
        text.str(services[i].name);
        text.settings(&services[i], "\\n");
        text.str("\"");
        if on_critical_path(plan, i) {
            text.str(", penwidth=2");
        }
        text.str("];\n");
        i += 1;
    }
    let mut to = 0;
    while to < services.len() {
        let deps = services[to].deps;
        let mut d = 0;
        while d < deps.len() {
            let (from, optional) = deps[d];
            text.str("    \"");
            text.str(services[from].name);
            text.str("\" -> \"");
            text.str(services[to].name);
            text.str("\"");
            match (optional, critical_edge(plan, from, to)) {
                (false, false) => {}
                (true, false) => text.str(" [style=dashed]"),
                (false, true) => text.str(" [penwidth=2]"),
                (true, true) => text.str(" [style=dashed, penwidth=2]"),
            }
            text.str(";\n");
            d += 1;
        }
        to += 1;
    }
    text.str("}\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl Fn(&mut Text<64>)) -> String {
        let mut measure = Text::<64>::new();
        write(&mut measure);
        let len = measure.len();
        String::from_utf8(measure.bytes[..len].to_vec()).unwrap()
    }

    #[test]
    fn durations_use_the_largest_whole_unit_with_up_to_three_decimals() {
        let cases = [
            (Duration::from_secs(2), "2 s"),
            (Duration::from_millis(1500), "1.5 s"),
            (Duration::from_millis(100), "100 ms"),
            (Duration::from_micros(1250), "1.25 ms"),
            (Duration::from_micros(250), "250 µs"),
            (Duration::from_nanos(12), "12 ns"),
            (Duration::ZERO, "0 ns"),
            (Duration::from_nanos(1_000_000_001), "1 s"),
            (Duration::from_secs(3600), "3600 s"),
        ];
        for (duration, expected) in cases {
            let expected = expected.replace(' ', "\u{a0}");
            assert_eq!(written(|t| t.duration(duration)), expected);
        }
    }

    #[test]
    fn factors_are_rounded_to_two_decimals() {
        assert_eq!(written(|t| t.factor(2.0)), "2");
        assert_eq!(written(|t| t.factor(1.5)), "1.5");
        assert_eq!(written(|t| t.factor(1.05)), "1.05");
        assert_eq!(written(|t| t.factor(20.0000001)), "20");
        assert_eq!(written(|t| t.uint(u128::MAX)), u128::MAX.to_string());
    }

    #[test]
    fn labels_state_the_policy_and_the_timeout() {
        let planned = |retry, timeout| Planned {
            name: "payments",
            deps: &[],
            retry,
            timeout,
        };
        let label = |service: &Planned| {
            let mut text = Text::<256>::new();
            text.settings(service, " | ");
            let len = text.len();
            String::from_utf8(text.bytes[..len].to_vec())
                .unwrap()
                .replace('\u{a0}', "~")
        };
        assert_eq!(label(&planned(RetryPolicy::NONE, None)), "");
        assert_eq!(
            label(&planned(RetryPolicy::DEFAULT, Some(Duration::from_secs(2)))),
            " | 5 retries, 100~ms ×2 up to 3~s, ±20% | timeout 2~s"
        );
        assert_eq!(
            label(&planned(
                RetryPolicy::NONE
                    .with_max_retries(1)
                    .with_jitter(0.0)
                    .with_max_elapsed(Duration::from_secs(10)),
                None
            )),
            " | 1 retry, 100~ms ×2 up to 3~s, within 10~s"
        );
    }

    #[test]
    fn a_text_too_short_keeps_counting() {
        let mut text = Text::<2>::new();
        text.str("abcd");
        assert_eq!(text.len(), 4);
        assert_eq!(&text.bytes, b"ab");
    }
}
