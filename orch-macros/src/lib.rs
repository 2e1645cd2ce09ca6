//! The procedural macros of [orch](https://docs.rs/orch): use them through `orch`, which
//! re-exports them.
//!
//! Each macro runs three stages, one file each: `parse` (syntax models that keep the user's
//! tokens), `validate` (one function per rule, every error collected), `expand` (code
//! generation); the graph algorithms live in `graph`, free of syntax.
//!
//! `#[service]` and `orchestration!` expand independently, so they talk through a callback: each
//! service also defines a `macro_rules!` under its own name that carries its name and
//! dependencies. `orchestration!` invokes the first service's callback; each callback appends
//! its metadata and invokes the next; the last one invokes `__finish!`, which sees the whole
//! graph, checks it and generates the plan. Types never travel through the callbacks: they are
//! reached through the `orch::Service` trait the service's marker type implements.

mod expand;
mod graph;
mod parse;
mod validate;

use proc_macro::TokenStream;
use quote::ToTokens;

use crate::parse::{Finish, Orchestration, ServiceArgs, ServiceFn, ServiceMeta};
use crate::validate::Errors;

/// Turns an `async fn` into a service that orchestrations can list.
///
/// ```
/// use orch::prelude::*;
/// use std::convert::Infallible;
///
/// #[service(retry = RetryPolicy::DEFAULT.with_max_retries(2))]
/// async fn payments(ctx: &Context<u32>) -> Result<u64, String> {
///     Ok(u64::from(*ctx.payload()) * 100)
/// }
///
/// #[service(depends_on = [payments])]
/// async fn receipt(_ctx: &Context<u32>, cents: &u64) -> Result<String, Infallible> {
///     Ok(format!("{cents} cents"))
/// }
/// ```
///
/// **Keys**, all optional: `depends_on = [name, ..]`, the services whose outputs this one takes,
/// by their function's name; `retry = <const expression>`, an `orch::RetryPolicy`, checked at
/// compile time (without it, one attempt); `timeout = <const expression>`, a
/// `std::time::Duration` longer than zero: an attempt running longer is dropped and counts as a
/// retryable failure.
///
/// **The function** is a module-level, non-generic `async fn` returning `Result<T, E>` (under
/// any alias), where `T` borrows nothing (`&'static` data aside). Its first parameter is the
/// context, `&Context<Payload>`; then one parameter per dependency, in `depends_on` order:
/// `&T` (the service is skipped unless that dependency succeeded) or `Option<&T>` (it runs
/// anyway), where `T` is the dependency's output type. The function is emitted unchanged.
///
/// **Generated next to it:** a marker type of the same name implementing `orch::Service`
/// (output, error, name and retry policy), and a hidden `macro_rules!` of the same name that
/// carries the service's name and dependencies to `orchestration!`, exported with the
/// function's visibility. So a service cannot share its name with a type, a module or a
/// macro of its module, nor be named like a standard macro (`format`, `vec`, ..).
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let Ok(function) = syn::parse2::<syn::ItemFn>(item2.clone()) else {
        // Not a function: say so, and keep the user's item so nothing else breaks.
        let span = item2
            .clone()
            .into_iter()
            .next()
            .map_or_else(proc_macro2::Span::call_site, |token| token.span());
        let error = syn::Error::new(span, "`#[service]` goes on an `async fn`");
        let mut out = error.to_compile_error();
        out.extend(item2);
        return out.into();
    };
    let service = ServiceFn { item: function };
    let mut errors = Errors::default();
    let (args, checked) = match syn::parse::<ServiceArgs>(args) {
        Ok(args) => {
            let checked = validate::service(&args, &service, &mut errors);
            (args, checked)
        }
        Err(error) => {
            // Without the attribute the parameters cannot be checked against `depends_on`:
            // report the attribute's error and the function's own.
            errors.add(error);
            validate::service_fn(&service, &mut errors);
            (
                ServiceArgs::default(),
                validate::CheckedService { deps: Vec::new() },
            )
        }
    };
    match errors.finish() {
        Ok(()) => {
            let meta = ServiceMeta {
                name: service.name().clone(),
                deps: checked.deps,
                poisoned: false,
            };
            expand::service(&args, &service, &meta).into()
        }
        Err(error) => {
            // Keep the function, so calls to it do not cascade into more errors, and a callback
            // that tells orchestrations to stop quietly: the error above is the one to fix.
            let meta = ServiceMeta {
                name: service.name().clone(),
                deps: Vec::new(),
                poisoned: true,
            };
            let mut out = error.to_compile_error();
            out.extend(service.item.to_token_stream());
            out.extend(expand::callback(service.name(), service.vis(), &meta));
            out.into()
        }
    }
}

/// Declares an orchestration: a name, a payload type, and services listed by path.
///
/// ```
/// use orch::prelude::*;
/// use std::convert::Infallible;
///
/// mod billing {
///     use orch::prelude::*;
///
///     #[service]
///     pub async fn payments(ctx: &Context<u32>) -> Result<u64, String> {
///         Ok(u64::from(*ctx.payload()) * 100)
///     }
/// }
///
/// #[service(depends_on = [payments])]
/// async fn receipt(_ctx: &Context<u32>, cents: &u64) -> Result<String, Infallible> {
///     Ok(format!("{cents} cents"))
/// }
///
/// orchestration! {
///     /// Charges, then writes a receipt.
///     pub checkout(u32) {
///         billing::payments,
///         receipt,
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let request = Request::new("evt-1", "tenant", "org", 3);
/// let report = checkout::orchestrate(&request, &NoJournal).await;
/// assert_eq!(report.into_result().expect("no failure").receipt, "300 cents");
/// # }
/// ```
///
/// It generates a module of the orchestration's name and visibility (at module level, not in a
/// function body) holding: `orchestrate(&Request<Payload>, &impl Journal) -> Report` and
/// `orchestrate_with(.., RunOptions)`; `Report`, one public `Outcome` field per service, with
/// `into_result() -> Result<Outputs, RunError<Failed>>`, `summary()`, `statuses()`,
/// `is_success()` and `interruption()`; `Outputs` and `Failed` (one field or variant per
/// service); `NAME`, `SERVICES`, `Payload`, `DEADLINE`, `FAIL_FAST` and `MAX_IN_FLIGHT` (and `FINGERPRINT`
/// when durable). The
/// module's docs list the plan. Doc comments, `#[cfg(..)]` and lint attributes may go before
/// the orchestration's name, and one `#[orch(..)]` with its run settings, each optional and
/// overridable per run with `RunOptions`:
///
/// ```
/// # use orch::prelude::*;
/// use std::time::Duration;
///
/// #[service(timeout = Duration::from_millis(500))]
/// async fn price(ctx: &Context<u32>) -> Result<u32, String> {
///     Ok(*ctx.payload())
/// }
///
/// orchestration! {
///     // Every run ends within 2 s; the first failure cancels the rest; 4 services at a time.
///     #[orch(deadline = Duration::from_secs(2), fail_fast, max_in_flight = 4)]
///     pub pricing(u32) { price }
/// }
/// # fn main() { assert_eq!(pricing::DEADLINE, Some(Duration::from_secs(2))); }
/// ```
///
/// With a `deadline`, a path of services that all have timeouts and can together take longer
/// (see `RetryPolicy::worst_case`) is a compile error naming its first late service.
///
/// `#[orch(durable)]` makes runs resume from their journal: run again under the same event id
/// (with a journal that can read back, such as `SqliteJournal`), a run reads back the recorded
/// outputs of the services that succeeded instead of calling them, and a finished run returns
/// its recorded result. Every service's output must then implement serde's `Serialize` and
/// `Deserialize` (a compile error names the service otherwise), and the module also holds
/// `FINGERPRINT`, the orchestration's shape hashed at compile time: a run recorded under
/// another shape is not resumed.
///
/// ```
/// # use orch::prelude::*;
/// #[service]
/// async fn reserve(ctx: &Context<u32>) -> Result<Vec<u32>, String> {
///     Ok(vec![*ctx.payload()])
/// }
///
/// orchestration! {
///     #[orch(durable)]
///     pub stock(u32) { reserve }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let journal = InMemoryJournal::new();
/// let request = Request::new("evt-1", "tenant", "org", 7);
/// let first = stock::orchestrate(&request, &journal).await;
/// // Finished: the recorded result comes back, and `reserve` is not called again.
/// let again = stock::orchestrate(&request, &journal).await;
/// assert_eq!(again.reserve.output(), first.reserve.output());
/// assert!(matches!(&again.reserve, Outcome::Succeeded(success) if success.replayed));
/// # }
/// ```
///
/// The graph is checked at compile time: a cycle, an unlisted dependency, a service listed
/// twice, or a parameter whose type is not its dependency's output does not compile. Each
/// service costs one level of macro recursion: above 125 services, raise `recursion_limit`.
#[proc_macro]
pub fn orchestration(input: TokenStream) -> TokenStream {
    let tokens: proc_macro2::TokenStream = input.clone().into();
    match syn::parse::<Orchestration>(input) {
        Ok(orchestration) => expand::orchestration(tokens, &orchestration).into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// The end of the callback chain `orchestration!` starts: the whole graph, checked and expanded.
#[doc(hidden)]
#[proc_macro]
pub fn __finish(input: TokenStream) -> TokenStream {
    let finish = match syn::parse::<Finish>(input) {
        Ok(finish) => finish,
        Err(error) => return error.to_compile_error().into(),
    };
    if finish.metas.iter().any(|meta| meta.poisoned) {
        return TokenStream::new();
    }
    let mut errors = Errors::default();
    let checked = validate::orchestration(&finish, &mut errors);
    match (errors.finish(), checked) {
        (Ok(()), Some(checked)) => expand::finish(&finish, &checked).into(),
        (Err(error), _) => error.to_compile_error().into(),
        (Ok(()), None) => TokenStream::new(),
    }
}
