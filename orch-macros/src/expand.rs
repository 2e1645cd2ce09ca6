//! Stage 3: code generation.
//!
//! Every local the generated code binds is spelled with `Span::call_site()` (idents that arrive
//! through different callback expansions cannot see each other's bindings); the user's spans are
//! kept only where an error should point at the user's token.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, ReturnType, Visibility};

use crate::graph;
use crate::parse::{
    DepMode, Finish, Orchestration, ServiceArgs, ServiceFn, ServiceMeta, Settings, at, text,
};
use crate::validate::{CheckedOrchestration, path_text};

/// The version tag of the callback protocol between `#[service]` and `orchestration!`.
const PROTOCOL: &str = "orch_v1";

/// `#[service]`: the function unchanged, its marker type implementing `orch::Service`, and the
/// callback that carries its graph metadata to orchestrations.
pub fn service(args: &ServiceArgs, service: &ServiceFn, meta: &ServiceMeta) -> TokenStream {
    let item = &service.item;
    let name = service.name();
    let vis = service.vis();
    let name_text = text(name);
    let output = match &item.sig.output {
        ReturnType::Type(_, ty) => ty.to_token_stream(),
        ReturnType::Default => quote!(()),
    };
    // Part of a durable orchestration's fingerprint: the type as written.
    let output_text = output.to_string();
    // Spanned at the return type, so that "a service must return `Result<T, E>`" points at it.
    let result = quote_spanned!(output.span()=> <#output as ::orch::__private::ServiceResult>);
    let output_type = quote_spanned!(output.span()=> type Output = #result::Output;);
    let error_type = quote_spanned!(output.span()=> type Error = #result::Error;);
    // Every use of the two types is spanned there too, so the error is reported once.
    let self_output = quote_spanned!(output.span()=> Self::Output);
    let self_error = quote_spanned!(output.span()=> Self::Error);
    let (retry, retry_check) = match &args.retry {
        Some((_, expr)) => (
            quote_spanned!(expr.span()=> #expr),
            // A free `const` is evaluated even if no orchestration uses the service, so a bad
            // policy never compiles; the panic points at the user's expression.
            quote_spanned! {expr.span()=>
                const _: () = ::orch::RetryPolicy::assert_valid(&<#name as ::orch::Service>::RETRY);
            },
        ),
        None => (quote!(::orch::RetryPolicy::NONE), TokenStream::new()),
    };
    let (timeout, timeout_check) = match &args.timeout {
        Some((_, expr)) => (
            // Through a typed constant, so that a wrong type is reported at the expression alone.
            quote_spanned!(expr.span()=> {
                const TIMEOUT: ::core::time::Duration = #expr;
                ::core::option::Option::Some(TIMEOUT)
            }),
            // A zero timeout would fail every attempt before it ran: refused at compile time,
            // pointing at the user's expression.
            quote_spanned! {expr.span()=>
                const _: () = ::orch::__private::assert_timeout(<#name as ::orch::Service>::TIMEOUT);
            },
        ),
        None => (quote!(::core::option::Option::None), TokenStream::new()),
    };
    let doc = format!(
        "The service `{name_text}` as a type: `<{name_text} as orch::Service>` gives its output, \
         error and retry policy."
    );
    // The whole impl is spanned at the return type: if that is not a `Result`, every use of
    // `Self::Output` fails, and rustc reports the identical errors once, at the user's token.
    let service_impl = quote_spanned! {output.span()=>
    impl ::orch::Service for #name {
        #output_type
        #error_type
        const NAME: &'static str = #name_text;
        const RETRY: ::orch::RetryPolicy = #retry;
        const TIMEOUT: ::core::option::Option<::core::time::Duration> = #timeout;
        const __OUTPUT_TYPE: &'static str = #output_text;

        fn __is_permanent(error: &#self_error) -> bool {
            #[allow(unused_imports)]
            use ::orch::__private::{PermanentByTrait as _, PermanentNever as _};
            (&&::orch::__private::Probe::<#self_error>::new()).is_permanent(error)
        }

        fn __retry_after(error: &#self_error) -> ::core::option::Option<::core::time::Duration> {
            #[allow(unused_imports)]
            use ::orch::__private::{PermanentByTrait as _, PermanentNever as _};
            (&&::orch::__private::Probe::<#self_error>::new()).retry_after(error)
        }

        fn __describe_error(error: &#self_error) -> ::std::string::String {
            #[allow(unused_imports)]
            use ::orch::__private::{DescribeDebug as _, DescribeDisplay as _, DescribeType as _};
            (&&&::orch::__private::Probe::<#self_error>::new()).describe(error)
        }

        fn __output_json(output: &#self_output) -> ::core::option::Option<::orch::__private::JsonValue> {
            #[allow(unused_imports)]
            use ::orch::__private::{JsonNone as _, JsonSerialize as _};
            (&&::orch::__private::Probe::<#self_output>::new()).json(output)
        }
    }
    };
    let callback = callback(name, vis, meta);
    quote! {
        // A dependency parameter's type is the dependency's output, which may be a `String` or
        // a `Vec`: clippy's advice to take `&str` or a slice cannot be followed.
        #[allow(clippy::ptr_arg)]
        #item

        #[doc = #doc]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #service_impl

        // Names the function, so that a service no orchestration uses yet does not warn as dead
        // code (unnamed constants are always live).
        const _: () = {
            let _ = #name;
        };

        #retry_check
        #timeout_check

        #callback
    }
}

/// The `macro_rules!` callback of a service: invoked by `orchestration!` (or by the previous
/// service's callback) with the paths still to visit and the metadata gathered so far, it appends
/// its own and invokes the next one, or `orch::__private::finish!` after the last.
pub fn callback(name: &Ident, vis: &Visibility, meta: &ServiceMeta) -> TokenStream {
    let macro_name = format_ident!("__orch_service_{}_{}", name, location_hash(name));
    let meta = meta.to_tokens();
    let protocol = Ident::new(PROTOCOL, Span::call_site());
    let misuse = format!(
        "`{name}!` is how orch describes the service `{name}` to orchestrations: list `{name}` in \
         an `orchestration! {{ .. }}` instead of invoking it"
    );
    let mismatch = format!(
        "the service `{name}` was compiled by another version of orch's macros than the \
         orchestration listing it: build both with one version of orch"
    );
    // Only a `pub` service's callback must reach other crates, which takes `#[macro_export]` (and
    // with it the crate root, hence the hash). Any other stays a plain `macro_rules!` of its
    // module, re-exported as far as the crate: no name to clash with anywhere else.
    let export = match vis {
        Visibility::Public(_) => quote!(#[macro_export]),
        _ => TokenStream::new(),
    };
    quote! {
        #[doc(hidden)]
        #export
        macro_rules! #macro_name {
            (@#protocol { [$($next:tt)*] $($rest:tt)* } { $($acc:tt)* }) => {
                $($next)*! { @#protocol { $($rest)* } { $($acc)* #meta } }
            };
            (@#protocol { } { $($acc:tt)* }) => {
                ::orch::__private::finish! { $($acc)* #meta }
            };
            (@$other:ident $($unexpected:tt)*) => {
                ::core::compile_error! { #mismatch }
            };
            ($($unexpected:tt)*) => {
                ::core::compile_error! { #misuse }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #macro_name as #name;
    }
}

/// A hash of where the service is defined: `#[macro_export]` puts a public service's callback at
/// the crate root, so two public services with one name in two modules need two macro names.
fn location_hash(name: &Ident) -> String {
    let span = name.span().unwrap();
    // The last components of the file's path, not all of it: the name appears in some compiler
    // messages, which must read the same wherever the project is checked out.
    let file = span.file();
    let components: Vec<&str> = file.rsplit(['/', '\\']).take(4).collect();
    let key = format!(
        "{}:{}:{}:{}",
        components.join("/"),
        span.line(),
        span.column(),
        name
    );
    // FNV-1a: stable across compilers and runs, unlike `DefaultHasher`.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// `orchestration!`: start the chain of callbacks at the first service.
pub fn orchestration(input: TokenStream, orchestration: &Orchestration) -> TokenStream {
    let protocol = Ident::new(PROTOCOL, Span::call_site());
    let Some((first, rest)) = orchestration.services.split_first() else {
        // No callback to run: finish at once, which reports the empty list.
        return quote!(::orch::__private::finish! { { #input } });
    };
    let rest = rest.iter().map(|path| quote!([#path]));
    quote! {
        #first! { @#protocol { #(#rest)* } { { #input } } }
    }
}

/// `__finish!`: the orchestration's module.
pub fn finish(finish: &Finish, checked: &CheckedOrchestration) -> TokenStream {
    let orchestration = &finish.orchestration;
    let name = &orchestration.name;
    let name_text = text(name);
    let vis = &orchestration.vis;
    let attrs = &orchestration.attrs;
    // `cfg` and lint attributes apply to everything the orchestration emits.
    let shared: Vec<_> = attrs
        .iter()
        .filter(|attr| !attr.path().is_ident("doc"))
        .collect();
    let shared = quote!(#(#shared)*);
    let payload = &orchestration.payload;
    let payload_alias = format_ident!("__OrchPayload_{}", name);
    let count = finish.metas.len();

    let services: Vec<Service> = finish
        .metas
        .iter()
        .zip(&orchestration.services)
        .enumerate()
        .map(|(index, (meta, path))| Service::new(name, index, meta, path))
        .collect();

    // One tuple of slots and one of contexts, not a local each: the plan's `async` block keeps
    // them across its `.await`, and a state machine with hundreds of saved locals is slow to
    // compile.
    let new_slots = services
        .iter()
        .map(|_| quote!(::orch::__private::Slot::new()));
    let new_contexts = services.iter().map(|s| {
        let ty = &s.ty;
        quote!(__run.context::<#ty>())
    });
    let slots_declared = quote! {
        let __slots = (#(#new_slots,)*);
        let __contexts = (#(#new_contexts,)*);
    };
    let names: Vec<&Ident> = services.iter().map(|s| &s.name).collect();
    let tasks_declared = checked
        .order
        .iter()
        .map(|&i| service_task(&services, finish, checked, i));
    let tasks: Vec<TokenStream> = checked
        .order
        .iter()
        .map(|&i| {
            let task = &services[i].task;
            quote!(#task.as_mut())
        })
        .collect();
    let tasks = balanced_pairs(&tasks);
    let settings_const = format_ident!("__ORCH_SETTINGS_{}", name);
    let settings = settings(&orchestration.settings, &settings_const, &shared);
    let deadline_checks = deadline_checks(&services, checked, &orchestration.settings);
    let user_paths = services.iter().map(|s| &s.user_path);
    let imports = services.iter().map(|s| &s.import);
    let name_texts: Vec<String> = services.iter().map(|s| text(&s.name)).collect();
    let types: Vec<&TokenStream> = services.iter().map(|s| &s.ty).collect();
    let slots: Vec<&TokenStream> = services.iter().map(|s| &s.slot).collect();
    let outcome_docs = names
        .iter()
        .map(|name| format!("What happened to `{name}`."));
    let output_docs = names.iter().map(|name| format!("The output of `{name}`."));
    let failed_docs = names.iter().map(|name| format!("`{name}` failed."));
    let graph = checked.graph();
    let shape = Shape {
        critical_path: graph::critical_path(&graph, &checked.order),
        width: graph::width(&graph, &checked.order),
    };
    let doc_table = doc_table(finish, checked, &shape);
    let payload_json = quote! {
        |payload: &Payload| {
            use ::orch::__private::{JsonNone as _, JsonSerialize as _};
            (&&::orch::__private::Probe::<Payload>::new()).json(payload)
        }
    };
    // Runs the plan and records its end; the run's interruption, if it was interrupted.
    let run = quote! {{
        {
            #(#tasks_declared)*
            // Every unfinished service is polled in topological order on every wake-up,
            // which is what lets a dependent wait without a waker (see
            // `orch::__private::deps`).
            let mut __tasks = #tasks;
            ::orch::__private::drive(&__run, &mut __tasks).await;
            if __run.interruption().is_some() {
                // Whatever is still running or waiting stops here, in topological
                // order: a service whose dependency was just cancelled is skipped.
                ::orch::__private::stop_all(&__run, __tasks).await;
            }
        }
        // The summary is read from the slots, so that the report is built once, in
        // place, after the run's end is recorded; only if that end is journaled or traced.
        let __summary = || {
            // One capture, of the tuple, rather than one per slot.
            let __slots = &__slots;
            let mut __summary = ::orch::Summary::default();
            #( __summary.add(::orch::__private::status(&#slots)); )*
            __summary
        };
        // Without a journal, nothing to await.
        if __run.is_journaled() {
            __run.finish(__summary).await
        } else {
            __run.finished(__summary)
        }
    }};
    let (prologue, body) = if orchestration.settings.durable.is_some() {
        let recalled: Vec<Ident> = services
            .iter()
            .map(|s| format_ident!("__recalled_{}", s.index))
            .collect();
        // Spanned at the listed service: an output that serde cannot read back is reported
        // there, naming the service.
        let takes = services.iter().zip(&recalled).map(|(s, recalled)| {
            let (ty, context) = (&s.ty, &s.context);
            let take = Ident::new("take", at(s.listed));
            quote! {
                let #recalled = __replay.#take::<#ty, _>(&#context, &SERVICES);
            }
        });
        let prologue = quote! {
            let mut __replay = __run.recall(FINGERPRINT, #payload_json).await;
            #(#takes)*
            #( __replay.store(&#slots, #recalled); )*
        };
        let body = quote! {
            if __replay.runs() {
                __run.start(#payload_json, SERVICES.len(), ::core::option::Option::Some(&__replay)).await;
                #run
            } else {
                __replay.interruption()
            }
        };
        (prologue, body)
    } else {
        let prologue = quote! {
            // Without a journal, nothing to await.
            if __run.is_journaled() {
                __run.start(#payload_json, SERVICES.len(), ::core::option::Option::None).await;
            } else {
                __run.started();
            }
        };
        (prologue, run)
    };
    let fingerprint = orchestration.settings.durable.is_some().then(|| {
        let parts = services.iter().enumerate().map(|(i, s)| {
            let ty = &s.ty;
            let deps = checked.deps[i].iter().map(|&(dep, mode)| {
                let marker = match mode {
                    DepMode::Required => "&",
                    DepMode::Optional => "?",
                };
                format!("{marker}{}", services[dep].name)
            });
            quote! {
                <#ty as ::orch::Service>::NAME,
                <#ty as ::orch::Service>::__OUTPUT_TYPE,
                #(#deps,)*
                ";",
            }
        });
        quote! {
            /// The shape of this orchestration (its name, its services with their output types
            /// as written, and their dependencies), hashed at compile time. A durable run
            /// records it, and is resumed only by an orchestration of the same shape.
            pub const FINGERPRINT: u64 = ::orch::__private::fingerprint(&[NAME, #(#parts)*]);
        }
    });
    let drawings = drawings(&services, checked, &name_texts, &shape);
    let orchestrate_doc = format!(
        "Runs orchestration `{name_text}` for `request`, recording it in `journal` \
         (`&orch::NoJournal` for none). The request is borrowed: keep it to log or retry the run.\n\n{doc_table}"
    );

    quote! {
        #shared
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis type #payload_alias = #payload;
        #(
            #shared
            #[doc(hidden)]
            use #user_paths as #imports;
        )*
        #settings

        #(#attrs)*
        #[doc = ""]
        #[doc = #doc_table]
        #vis mod #name {
            /// The payload type of this orchestration's requests.
            pub type Payload = super::#payload_alias;

            /// The orchestration's name, as journaled.
            pub const NAME: &str = #name_text;

            /// The services, in the order the orchestration lists them.
            pub const SERVICES: [&str; #count] = [#(#name_texts),*];

            /// The deadline of every run, from its start (`#[orch(deadline = ..)]`).
            pub const DEADLINE: ::core::option::Option<::core::time::Duration> = super::#settings_const.deadline;

            /// Whether a failure cancels the rest of a run (`#[orch(fail_fast)]`).
            pub const FAIL_FAST: bool = super::#settings_const.fail_fast;

            /// How many services may be in flight at once (`#[orch(max_in_flight = ..)]`).
            pub const MAX_IN_FLIGHT: ::core::option::Option<usize> = super::#settings_const.max_in_flight;

            #deadline_checks

            #fingerprint

            #drawings

            /// Every service's outcome in one run.
            #[must_use = "a report can hold failures: check it, or call `into_result`"]
            pub struct Report {
                #(
                    #[doc = #outcome_docs]
                    pub #names: ::orch::Outcome<<#types as ::orch::Service>::Output, <#types as ::orch::Service>::Error>,
                )*
                __orch_interruption: ::core::option::Option<::orch::Interruption>,
            }

            /// Every service's output, from a run in which all of them succeeded.
            pub struct Outputs {
                #(
                    #[doc = #output_docs]
                    pub #names: <#types as ::orch::Service>::Output,
                )*
            }

            /// The failure of one service, with its typed error.
            #[allow(non_camel_case_types)]
            pub enum Failed {
                #(
                    #[doc = #failed_docs]
                    #names(::orch::Failure<<#types as ::orch::Service>::Error>),
                )*
            }

            impl Report {
                /// How many services ended in each status.
                pub fn summary(&self) -> ::orch::Summary {
                    let mut summary = ::orch::Summary::default();
                    #( summary.add(self.#names.status()); )*
                    summary
                }

                /// Each service's name and status, in the orchestration's order.
                pub fn statuses(&self) -> [(&'static str, ::orch::Status); #count] {
                    [#( (#name_texts, self.#names.status()) ),*]
                }

                /// Why the run was interrupted (no service started after that), if it was.
                pub fn interruption(&self) -> ::core::option::Option<&::orch::Interruption> {
                    self.__orch_interruption.as_ref()
                }

                /// Whether every service succeeded and the run was not interrupted.
                pub fn is_success(&self) -> bool {
                    self.__orch_interruption.is_none() #( && self.#names.is_success() )*
                }

                /// Every output, or the first failed service in the orchestration's order (its
                /// skipped dependents are consequences), or the interruption.
                pub fn into_result(self) -> ::core::result::Result<Outputs, ::orch::RunError<Failed>> {
                    let Report { #(#names,)* __orch_interruption } = self;
                    #(
                        let #names = match #names {
                            ::orch::Outcome::Succeeded(success) => ::core::option::Option::Some(success.output),
                            ::orch::Outcome::Failed(failure) => {
                                return ::core::result::Result::Err(::orch::RunError::Failed(Failed::#names(failure)));
                            }
                            ::orch::Outcome::Skipped(_) | ::orch::Outcome::Cancelled(_) => ::core::option::Option::None,
                        };
                    )*
                    if let ::core::option::Option::Some(interruption) = __orch_interruption {
                        return ::core::result::Result::Err(::orch::RunError::Interrupted(interruption));
                    }
                    match (#(#names,)*) {
                        (#(::core::option::Option::Some(#names),)*) => ::core::result::Result::Ok(Outputs { #(#names),* }),
                        _ => ::orch::__private::unreachable_incomplete(),
                    }
                }
            }

            impl ::core::fmt::Debug for Report {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    use ::orch::__private::{FmtDebug as _, FmtType as _};
                    f.debug_struct("Report")
                        #(
                            .field(#name_texts, &::orch::__private::DebugWith(|f: &mut ::core::fmt::Formatter<'_>| {
                                (&&::orch::__private::probe_of(&self.#names)).fmt_debug(&self.#names, f)
                            }))
                        )*
                        .field("interruption", &self.__orch_interruption)
                        .finish()
                }
            }

            impl ::core::fmt::Debug for Outputs {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    use ::orch::__private::{FmtDebug as _, FmtType as _};
                    f.debug_struct("Outputs")
                        #(
                            .field(#name_texts, &::orch::__private::DebugWith(|f: &mut ::core::fmt::Formatter<'_>| {
                                (&&::orch::__private::probe_of(&self.#names)).fmt_debug(&self.#names, f)
                            }))
                        )*
                        .finish()
                }
            }

            impl Failed {
                /// The name of the service that failed.
                pub fn service(&self) -> &'static str {
                    match self {
                        #( Failed::#names(_) => #name_texts, )*
                    }
                }
            }

            impl ::core::fmt::Display for Failed {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match self {
                        #( Failed::#names(failure) => ::orch::__private::fmt_failure::<#types>(failure, f), )*
                    }
                }
            }

            impl ::core::fmt::Debug for Failed {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    use ::orch::__private::{FmtDebug as _, FmtType as _};
                    match self {
                        #(
                            Failed::#names(failure) => f
                                .debug_tuple(#name_texts)
                                .field(&::orch::__private::DebugWith(|f: &mut ::core::fmt::Formatter<'_>| {
                                    (&&::orch::__private::probe_of(failure)).fmt_debug(failure, f)
                                }))
                                .finish(),
                        )*
                    }
                }
            }

            impl ::std::error::Error for Failed {
                fn source(&self) -> ::core::option::Option<&(dyn ::std::error::Error + 'static)> {
                    use ::orch::__private::{SourceError as _, SourceNone as _};
                    match self {
                        #(
                            Failed::#names(failure) => match failure.last_error() {
                                ::orch::AttemptError::Error(error) => (&&::orch::__private::probe_of(error)).source(error),
                                _ => ::core::option::Option::None,
                            },
                        )*
                    }
                }
            }

            #[doc = #orchestrate_doc]
            pub fn orchestrate<'a, J: ::orch::Journal + ?Sized>(
                request: &'a ::orch::Request<Payload>,
                journal: &'a J,
            ) -> impl ::core::future::Future<Output = Report> + 'a {
                // Not an `async fn`: one state machine less for the report to move through.
                orchestrate_with(request, journal, ::orch::RunOptions::new())
            }

            /// Like [`orchestrate`], with options (such as a jitter seed).
            pub async fn orchestrate_with<J: ::orch::Journal + ?Sized>(
                request: &::orch::Request<Payload>,
                journal: &J,
                options: ::orch::RunOptions,
            ) -> Report {
                let __run = ::orch::__private::Run::new(NAME, request, journal, &options, super::#settings_const);
                let __span = ::core::clone::Clone::clone(__run.span());
                let __plan = async {
                    #slots_declared
                    #prologue
                    let __interruption = #body;
                    Report {
                        #( #names: ::orch::__private::take(#slots), )*
                        __orch_interruption: __interruption,
                    }
                };
                ::orch::__private::Instrument::instrument(__plan, __span).await
            }
        }
    }
}

/// The orchestration's `#[orch(..)]` settings, as a constant in the user's module, where the
/// user's expressions resolve as written.
fn settings(settings: &Settings, constant: &Ident, shared: &TokenStream) -> TokenStream {
    let deadline = match &settings.deadline {
        Some((_, expr)) => quote_spanned!(expr.span()=> {
            const DEADLINE: ::core::time::Duration = #expr;
            ::core::option::Option::Some(DEADLINE)
        }),
        None => quote!(::core::option::Option::None),
    };
    let fail_fast = settings.fail_fast.is_some();
    let max_in_flight = match &settings.max_in_flight {
        Some((_, expr)) => quote_spanned!(expr.span()=> {
            const MAX_IN_FLIGHT: usize = #expr;
            ::core::option::Option::Some(MAX_IN_FLIGHT)
        }),
        None => quote!(::core::option::Option::None),
    };
    // Each check is spanned at its expression, so that an invalid value points there.
    let deadline_check = settings.deadline.as_ref().map(|(_, expr)| {
        quote_spanned! {expr.span()=>
            #shared
            const _: () = ::orch::__private::Declared::assert_deadline(#constant.deadline);
        }
    });
    let max_in_flight_check = settings.max_in_flight.as_ref().map(|(_, expr)| {
        quote_spanned! {expr.span()=>
            #shared
            const _: () = ::orch::__private::Declared::assert_max_in_flight(#constant.max_in_flight);
        }
    });
    quote! {
        #shared
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #constant: ::orch::__private::Declared = ::orch::__private::Declared {
            deadline: #deadline,
            fail_fast: #fail_fast,
            max_in_flight: #max_in_flight,
        };
        #deadline_check
        #max_in_flight_check
    }
}

/// With a declared deadline: for each service, the latest it can end (its dependencies' latest,
/// then its own worst case: `RetryPolicy::worst_case`), and a compile error at the first service
/// of a path that can reach the deadline. Skipped when a service on the way has no timeout.
fn deadline_checks(
    services: &[Service],
    checked: &CheckedOrchestration,
    settings: &Settings,
) -> TokenStream {
    if settings.deadline.is_none() {
        return TokenStream::new();
    }
    let latest = |i: usize| format_ident!("__LATEST_END_{}", i);
    let checks = checked.order.iter().map(|&i| {
        let service = &services[i];
        let ty = &service.ty;
        let own = latest(i);
        let deps: Vec<Ident> = checked.deps[i].iter().map(|&(dep, _)| latest(dep)).collect();
        let message = format!(
            "orch: `{}` can end at or after the orchestration's deadline, counting every attempt on its \
             path up to its timeout and every wait up to its policy's max_delay; raise the \
             deadline, or lower the timeouts, retries or max_delay on this path, or give its \
             retry policy a budget (`with_max_elapsed`)",
            service.name
        );
        quote_spanned! {service.listed=>
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            const #own: ::core::option::Option<::core::time::Duration> = ::orch::__private::latest_end(
                &[#(#deps),*],
                <#ty as ::orch::Service>::RETRY.worst_case(<#ty as ::orch::Service>::TIMEOUT),
            );
            const _: () = if ::orch::__private::ends_late(#own, &[#(#deps),*], DEADLINE) {
                ::core::panic!(#message)
            };
        }
    });
    quote!(#(#checks)*)
}

/// What the generated code needs of one listed service.
struct Service {
    index: usize,
    name: Ident,
    /// The service's path from inside the generated module: through an import in the user's
    /// module, which resolves the user's path exactly as written (`billing::x`, `crate::x`, or
    /// another crate's `svclib::x`, which `super::` could not reach).
    path: TokenStream,
    /// `<path>` as the marker type.
    ty: TokenStream,
    /// The path as the user wrote it, valid in the user's module.
    user_path: Path,
    /// The name under which the user's module imports the service for the generated module.
    import: Ident,
    /// `__slots.i`: where its outcome is kept.
    slot: TokenStream,
    /// `__contexts.i`: its context.
    context: TokenStream,
    /// `__service_i`: its task, pinned.
    task: Ident,
    /// The user's token for the service in the orchestration's list.
    listed: Span,
}

impl Service {
    fn new(orchestration: &Ident, index: usize, meta: &ServiceMeta, path: &Path) -> Self {
        let listed = path
            .segments
            .last()
            .map_or_else(|| path.span(), |segment| segment.ident.span());
        let import = format_ident!("__orch_{}_{}", orchestration, index);
        Service {
            index,
            name: {
                let mut name = meta.name.clone();
                name.set_span(at(meta.name.span()));
                name
            },
            ty: quote!(super::#import),
            path: quote!(super::#import),
            user_path: path.clone(),
            import,
            slot: {
                let index = syn::Index::from(index);
                quote!(__slots.#index)
            },
            context: {
                let index = syn::Index::from(index);
                quote!(__contexts.#index)
            },
            task: format_ident!("__service_{}", index),
            listed,
        }
    }
}

/// The task of service `i`: what it waits for, and how it is called.
fn service_task(
    services: &[Service],
    finish: &Finish,
    checked: &CheckedOrchestration,
    i: usize,
) -> TokenStream {
    let service = &services[i];
    let (index, slot, task, path, ty) = (
        u32::try_from(service.index).unwrap_or(u32::MAX),
        &service.slot,
        &service.task,
        &service.path,
        &service.ty,
    );
    let context = &service.context;
    // Reported at the listed path, so a payload mismatch points at the user's token.
    let ctx = Ident::new("__ctx", at(service.listed));
    let deps = &checked.deps[i];
    let locals: Vec<Ident> = (0..deps.len())
        .map(|k| format_ident!("__dep_{}", k))
        .collect();
    // Reported at the `depends_on` entry, so a type mismatch points at the user's token.
    let args: Vec<Ident> = finish.metas[i]
        .deps
        .iter()
        .enumerate()
        .map(|(k, (dep, _))| Ident::new(&format!("__dep_{k}"), at(dep.span())))
        .collect();
    let reads = deps.iter().zip(&locals).map(|(&(dep, mode), local)| {
        let dep_slot = &services[dep].slot;
        let dep_name = text(&services[dep].name);
        match mode {
            DepMode::Required => {
                quote!(let #local = ::orch::__private::required(&#dep_slot, #dep_name);)
            }
            DepMode::Optional => quote!(let #local = ::orch::__private::optional(&#dep_slot);),
        }
    });
    let skips = deps
        .iter()
        .zip(&locals)
        .filter(|((_, mode), _)| *mode == DepMode::Required)
        .map(|(_, local)| {
            quote! {
                if let ::orch::__private::Dep::Missing(__skip) = #local {
                    return ::orch::__private::Poll::Ready(::core::result::Result::Err(__skip));
                }
            }
        });
    // When every dependency is required, the common case (all succeeded) is one load and
    // compare each; the general check below is what a waiting or failed dependency takes.
    let all_succeeded = (!deps.is_empty()
        && deps.iter().all(|&(_, mode)| mode == DepMode::Required))
    .then(|| {
        let outputs = deps.iter().map(|&(dep, _)| {
            let dep_slot = &services[dep].slot;
            quote!(#dep_slot.output())
        });
        quote! {
            if let (#(::core::option::Option::Some(#locals),)*) = (#(#outputs,)*) {
                return ::orch::__private::Poll::Ready(::core::result::Result::Ok((#(#locals,)*)));
            }
        }
    });
    // One capture, of the tuple of slots, rather than one per dependency: each is a pointer
    // stored as the task is made.
    let captures = (!deps.is_empty()).then(|| quote!(let __slots = &__slots;));
    // The dependencies' check comes first, so that the arguments' types are known from the
    // dependencies' outputs when the call is checked against the service's parameters.
    quote! {
        let mut #task = ::orch::__private::pin!(::orch::__private::Task::<#ty, _, _, _, _, _, _, _, _>::new(
            &__run,
            &#slot,
            &#context,
            #index,
            || {
                #captures
                #all_succeeded
                #(#reads)*
                #(#skips)*
                match (#(#locals,)*) {
                    (#(::orch::__private::Dep::Ready(#locals),)*) => {
                        ::orch::__private::Poll::Ready(::core::result::Result::Ok((#(#locals,)*)))
                    }
                    #[allow(unreachable_patterns)]
                    _ => ::orch::__private::Poll::Pending,
                }
            },
            |__ctx, (#(#locals,)*)| #path(#ctx, #(#args),*),
            ::orch::__private::resume,
        ));
    }
}

/// The plan as data for `orch::__private::{mermaid, dot}`, the drawings as constants, and the
/// critical path and width, computed here from the graph alone.
fn drawings(
    services: &[Service],
    checked: &CheckedOrchestration,
    names: &[String],
    shape: &Shape,
) -> TokenStream {
    let (critical, width) = (&shape.critical_path, shape.width);
    let critical_names = critical.iter().map(|&i| &names[i]);
    let critical_len = critical.len();
    let critical_text: Vec<&str> = critical.iter().map(|&i| names[i].as_str()).collect();
    let critical_doc = format!(
        "The longest chain of services each needing the one before ({}): no run takes fewer \
         steps one after another. Its length is the plan's depth.",
        critical_text.join(" → ")
    );
    let width_doc = format!(
        "The most services that can run at once ({width}): the largest set of services of which \
         none needs another, directly or not. A `max_in_flight` below it limits this run's \
         concurrency."
    );
    let planned = services.iter().enumerate().map(|(i, s)| {
        let ty = &s.ty;
        let deps = checked.deps[i].iter().map(|&(dep, mode)| {
            let optional = mode == DepMode::Optional;
            quote!((#dep, #optional))
        });
        quote! {
            ::orch::__private::Planned {
                name: <#ty as ::orch::Service>::NAME,
                deps: &[#(#deps),*],
                retry: <#ty as ::orch::Service>::RETRY,
                timeout: <#ty as ::orch::Service>::TIMEOUT,
            }
        }
    });
    quote! {
        #[doc(hidden)]
        const __PLAN: ::orch::__private::Plan = ::orch::__private::Plan {
            name: NAME,
            services: &[#(#planned),*],
            critical_path: &[#(#critical),*],
        };

        /// The plan as a Mermaid flowchart (`graph TD`), written at compile time: one node per
        /// service labelled with its retries and timeout, an arrow from each dependency to its
        /// dependent (dotted when optional), the critical path drawn thick. Paste it into a
        /// Markdown file (GitHub renders it) or `mmdc`.
        pub const MERMAID: &str = {
            const LEN: usize = ::orch::__private::mermaid::<0>(&__PLAN).len();
            const TEXT: &::orch::__private::Text<LEN> = &::orch::__private::mermaid::<LEN>(&__PLAN);
            TEXT.as_str()
        };

        /// The plan as a Graphviz DOT digraph, written at compile time, with the same labels and
        /// arrows as [`MERMAID`] (dashed when optional): `dot -Tsvg`.
        pub const DOT: &str = {
            const LEN: usize = ::orch::__private::dot::<0>(&__PLAN).len();
            const TEXT: &::orch::__private::Text<LEN> = &::orch::__private::dot::<LEN>(&__PLAN);
            TEXT.as_str()
        };

        #[doc = #critical_doc]
        pub const CRITICAL_PATH: [&str; #critical_len] = [#(#critical_names),*];

        #[doc = #width_doc]
        pub const WIDTH: usize = #width;
    }
}

/// What the graph alone says of how a run can unfold.
struct Shape {
    /// The longest chain of dependencies, in dependency order.
    critical_path: Vec<usize>,
    /// The most services that can run at once.
    width: usize,
}

/// The documentation of the plan: one row per service, then its shape.
fn doc_table(finish: &Finish, checked: &CheckedOrchestration, shape: &Shape) -> String {
    let mut table = String::from(
        "# Plan\n\nEach service starts as soon as the dependencies it needs have succeeded \
         (`&T` parameter) or finished (`Option<&T>`).\n\n| service | path | depends on |\n|---|---|---|\n",
    );
    for (i, (meta, path)) in finish
        .metas
        .iter()
        .zip(&finish.orchestration.services)
        .enumerate()
    {
        let deps: Vec<String> = checked.deps[i]
            .iter()
            .map(|&(dep, mode)| {
                let dep = &finish.metas[dep].name;
                match mode {
                    DepMode::Required => format!("`{dep}`"),
                    DepMode::Optional => format!("`{dep}` (optional)"),
                }
            })
            .collect();
        let deps = if deps.is_empty() {
            "—".to_owned()
        } else {
            deps.join(", ")
        };
        table.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            meta.name,
            path_text(path),
            deps
        ));
    }
    let critical: Vec<String> = shape
        .critical_path
        .iter()
        .map(|&i| format!("`{}`", text(&finish.metas[i].name)))
        .collect();
    table.push_str(&format!(
        "\nCritical path ([`CRITICAL_PATH`]): {}, {} services one after another. Width \
         ([`WIDTH`]): at most {} services at once. Drawn, with retries and timeouts: [`MERMAID`], \
         [`DOT`].\n",
        critical.join(" → "),
        critical.len(),
        shape.width
    ));
    table
}

/// `items` as a balanced tree of pairs, `((a, b), (c, d))`, in their order: one value for
/// `drive` and `stop_all`, whose type nests no deeper than the logarithm of their number (a list,
/// `(a, (b, (c, ..)))`, would nest as deep as there are services, and every level's type would
/// name all the deeper ones).
fn balanced_pairs(items: &[TokenStream]) -> TokenStream {
    match items {
        [] => quote!(()),
        [item] => item.clone(),
        _ => {
            let (first, second) = items.split_at(items.len() / 2);
            let (first, second) = (balanced_pairs(first), balanced_pairs(second));
            quote!((#first, #second))
        }
    }
}
