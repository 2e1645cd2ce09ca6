//! Stage 2: the rules, one function each. Every broken rule adds an error at the user's token;
//! all of them are reported together.

use std::collections::HashMap;
use std::fmt::Display;

use proc_macro2::{Ident, Span};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType, Type};

use crate::graph;
use crate::parse::{DepMode, Finish, ServiceArgs, ServiceFn, dep_mode, text};

/// Collects errors so the user sees all of them in one compile.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, span: Span, message: impl Display) {
        self.add(syn::Error::new(span, message));
    }

    /// An error over all of `tokens`, first to last (a plain span covers only the first token).
    pub fn push_spanned(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    pub fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// A service after its checks: the mode of each dependency, in `depends_on` order.
pub struct CheckedService {
    pub deps: Vec<(Ident, DepMode)>,
}

pub fn service(args: &ServiceArgs, service: &ServiceFn, errors: &mut Errors) -> CheckedService {
    let deps: &[Ident] = args.depends_on.as_ref().map_or(&[], |(_, deps)| deps);
    service_fn(service, errors);
    no_self_dependency(service, deps, errors);
    no_duplicate_dependency(deps, errors);
    let params: Vec<&FnArg> = service.dependency_params().collect();
    for missing in deps.iter().skip(params.len()) {
        errors.push(
            missing.span(),
            format_args!(
                "`{missing}` has no parameter: add one for its output after the context, in \
                 `depends_on` order (`{missing}: &T`, or `Option<&T>` to run even if it fails)"
            ),
        );
    }
    for extra in params.iter().skip(deps.len()) {
        let hint = if deps.is_empty() {
            "`#[service(depends_on = [..])]`"
        } else {
            "`depends_on`"
        };
        errors.push_spanned(
            extra,
            format_args!(
                "this parameter has no dependency: a service's parameters after the context \
                 take its dependencies' outputs, so list the service it takes in {hint}, in \
                 parameter order"
            ),
        );
    }
    let deps = deps
        .iter()
        .zip(&params)
        .map(|(dep, param)| (dep.clone(), param_mode(param, errors)))
        .collect();
    CheckedService { deps }
}

/// The rules on the function alone, whatever its attribute says.
pub fn service_fn(service: &ServiceFn, errors: &mut Errors) {
    is_async(service, errors);
    has_no_generics(service, errors);
    returns_something(service, errors);
    returns_nothing_borrowed(service, errors);
    takes_context_first(service, errors);
    does_not_shadow_a_standard_macro(service, errors);
}

/// Macros of the standard prelude: a service's callback macro takes its function's name in its
/// module's macro namespace, so a service with one of these names would shadow the macro there.
const STANDARD_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "cfg",
    "column",
    "compile_error",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "file",
    "format",
    "format_args",
    "include",
    "include_bytes",
    "include_str",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "thread_local",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
];

fn does_not_shadow_a_standard_macro(service: &ServiceFn, errors: &mut Errors) {
    let name = text(service.name());
    if STANDARD_MACROS.contains(&name.as_str()) {
        errors.push(
            service.name().span(),
            format_args!(
                "a service cannot be named `{name}`: orch describes a service with a macro of its \
                 name, which would hide the standard `{name}!` in this module; rename the function"
            ),
        );
    }
}

/// An output outlives the attempt that made it (dependents borrow it until the run ends), so it
/// cannot borrow from the context or anything else but `'static` data.
fn returns_nothing_borrowed(service: &ServiceFn, errors: &mut Errors) {
    let ReturnType::Type(_, ty) = &service.item.sig.output else {
        return;
    };
    if let Some(span) = non_static_borrow(ty.to_token_stream()) {
        errors.push(
            span,
            "a service's output cannot borrow: dependents keep it until the run ends; return an \
             owned type (or `&'static` data)",
        );
    }
}

/// The first `&` in `tokens` that is not `&'static`.
fn non_static_borrow(tokens: proc_macro2::TokenStream) -> Option<Span> {
    use proc_macro2::TokenTree;
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Group(group) => {
                if let Some(span) = non_static_borrow(group.stream()) {
                    return Some(span);
                }
            }
            TokenTree::Punct(punct) if punct.as_char() == '&' => {
                let lifetime = match (tokens.next(), tokens.peek()) {
                    (Some(TokenTree::Punct(tick)), Some(TokenTree::Ident(name)))
                        if tick.as_char() == '\'' =>
                    {
                        Some(name.to_string())
                    }
                    _ => None,
                };
                if lifetime.as_deref() != Some("static") {
                    return Some(punct.span());
                }
            }
            _ => {}
        }
    }
    None
}

fn is_async(service: &ServiceFn, errors: &mut Errors) {
    let sig = &service.item.sig;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format_args!(
                "`#[service]` needs an `async fn`: write `async fn {}(..)`",
                sig.ident
            ),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.push(constness.span, "a service cannot be a `const fn`");
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(
            unsafety.span,
            "a service cannot be an `unsafe fn`: the orchestration calls it from safe code",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi.span(), "a service cannot have an `extern` ABI");
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic.span(), "a service cannot be variadic");
    }
}

fn has_no_generics(service: &ServiceFn, errors: &mut Errors) {
    let generics = &service.item.sig.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.push_spanned(
            generics,
            "a service cannot have generic parameters: an orchestration calls it with concrete \
             types (elided lifetimes such as `&Context<P>` are fine)",
        );
    }
}

fn returns_something(service: &ServiceFn, errors: &mut Errors) {
    let sig = &service.item.sig;
    if let ReturnType::Default = sig.output {
        errors.push(
            sig.paren_token.span.close(),
            "a service returns `Result<T, E>`: add `-> Result<Output, Error>` (with \
             `std::convert::Infallible` as the error if it cannot fail)",
        );
    }
}

fn takes_context_first(service: &ServiceFn, errors: &mut Errors) {
    let sig = &service.item.sig;
    match sig.inputs.first() {
        None => errors.push(
            sig.paren_token.span.join(),
            "a service takes its context as its first parameter: `ctx: &Context<Payload>`",
        ),
        Some(FnArg::Receiver(receiver)) => errors.push(
            receiver.span(),
            "a service is a free function: it cannot take `self`",
        ),
        Some(FnArg::Typed(param)) => {
            if !matches!(*param.ty, Type::Reference(_)) {
                errors.push_spanned(
                    &param.ty,
                    "a service's first parameter is its context, by reference: `&Context<Payload>`",
                );
            }
        }
    }
}

fn no_self_dependency(service: &ServiceFn, deps: &[Ident], errors: &mut Errors) {
    for dep in deps.iter().filter(|dep| *dep == service.name()) {
        errors.push(dep.span(), format_args!("`{dep}` cannot depend on itself"));
    }
}

fn no_duplicate_dependency(deps: &[Ident], errors: &mut Errors) {
    for (i, dep) in deps.iter().enumerate() {
        if deps[..i].contains(dep) {
            errors.push(
                dep.span(),
                format_args!("`{dep}` is listed twice in `depends_on`"),
            );
        }
    }
}

fn param_mode(param: &FnArg, errors: &mut Errors) -> DepMode {
    let FnArg::Typed(typed) = param else {
        errors.push(param.span(), "a service cannot take `self`");
        return DepMode::Required;
    };
    dep_mode(&typed.ty).unwrap_or_else(|| {
        errors.push_spanned(
            &typed.ty,
            "a dependency parameter borrows the dependency's output: write `&T` to be skipped \
             if the dependency fails, or `Option<&T>` to run anyway",
        );
        DepMode::Required
    })
}

/// An orchestration after its checks: for each service (in listing order) the index of each
/// dependency, and the order to start them in.
pub struct CheckedOrchestration {
    pub deps: Vec<Vec<(usize, DepMode)>>,
    pub order: Vec<usize>,
}

impl CheckedOrchestration {
    /// The dependencies without their modes, as the graph algorithms take them.
    pub fn graph(&self) -> Vec<Vec<usize>> {
        dependency_graph(&self.deps)
    }
}

fn dependency_graph(deps: &[Vec<(usize, DepMode)>]) -> Vec<Vec<usize>> {
    deps.iter()
        .map(|d| d.iter().map(|&(i, _)| i).collect())
        .collect()
}

pub fn orchestration(finish: &Finish, errors: &mut Errors) -> Option<CheckedOrchestration> {
    let orchestration = &finish.orchestration;
    let name = &orchestration.name;
    if finish.metas.is_empty() {
        errors.push(
            name.span(),
            format_args!("orchestration `{name}` has no services: list at least one"),
        );
        return None;
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, (meta, path)) in finish.metas.iter().zip(&orchestration.services).enumerate() {
        let service = text(&meta.name);
        if let Some(&first) = index.get(&service) {
            let first = path_text(&orchestration.services[first]);
            let first = if first == path_text(path) {
                String::new()
            } else {
                format!(" (first as `{first}`)")
            };
            errors.push(
                path.span(),
                format_args!(
                    "orchestration `{name}` lists a service named `{service}` twice{first}: each \
                     service runs once per orchestration, so remove one"
                ),
            );
        } else {
            index.insert(service, i);
        }
    }
    let mut deps = Vec::with_capacity(finish.metas.len());
    for meta in &finish.metas {
        let mut resolved = Vec::with_capacity(meta.deps.len());
        for (dep, mode) in &meta.deps {
            match index.get(&text(dep)) {
                Some(&i) => resolved.push((i, *mode)),
                None => errors.push(
                    dep.span(),
                    format_args!(
                        "`{}` depends on `{dep}`, which orchestration `{name}` does not list: add \
                         `{dep}` to `orchestration! {{ {name}(..) {{ .. }} }}`",
                        meta.name
                    ),
                ),
            }
        }
        deps.push(resolved);
    }
    match graph::topological_order(&dependency_graph(&deps)) {
        Ok(order) => Some(CheckedOrchestration { deps, order }),
        Err(cycles) => {
            for cycle in cycles {
                let names: Vec<String> = cycle
                    .path
                    .iter()
                    .chain(cycle.path.first())
                    .map(|&i| text(&finish.metas[i].name))
                    .collect();
                // The entry that closes the cycle: the last service's dependency on the first.
                let last = &finish.metas[*cycle.path.last().unwrap_or(&cycle.path[0])];
                let closing = last.deps.iter().find(|(dep, _)| text(dep) == names[0]);
                let span = closing.map_or(name.span(), |(dep, _)| dep.span());
                errors.push(
                    span,
                    format_args!(
                        "dependency cycle in orchestration `{name}`: {} (each service depends on \
                         the next); no service in a cycle can ever start: remove one of these \
                         dependencies",
                        names.join(" -> ")
                    ),
                );
            }
            None
        }
    }
}

pub fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let prefix = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{prefix}{}", segments.join("::"))
}
