//! Stage 1: syntax models of the macros' input, keeping the user's tokens so that every later
//! error can point at them.

use proc_macro2::{Ident, Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Expr, FnArg, ItemFn, Path, Token, Type, Visibility, bracketed, parenthesized,
};

mod kw {
    syn::custom_keyword!(depends_on);
    syn::custom_keyword!(retry);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(deadline);
    syn::custom_keyword!(fail_fast);
    syn::custom_keyword!(durable);
    syn::custom_keyword!(max_in_flight);
    syn::custom_keyword!(required);
    syn::custom_keyword!(optional);
    syn::custom_keyword!(poisoned);
}

/// `#[service(depends_on = [a, b], retry = EXPR, timeout = EXPR)]`.
#[derive(Default)]
pub struct ServiceArgs {
    pub depends_on: Option<(kw::depends_on, Vec<Ident>)>,
    pub retry: Option<(kw::retry, Expr)>,
    pub timeout: Option<(kw::timeout, Expr)>,
}

impl Parse for ServiceArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = ServiceArgs::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::depends_on) {
                let key: kw::depends_on = input.parse()?;
                if args.depends_on.is_some() {
                    return Err(syn::Error::new(
                        key.span,
                        "`depends_on` is given twice: list every dependency in one `depends_on = [..]`",
                    ));
                }
                input.parse::<Token![=]>()?;
                args.depends_on = Some((key, parse_dependency_list(input)?));
            } else if lookahead.peek(kw::retry) {
                let key: kw::retry = input.parse()?;
                if args.retry.is_some() {
                    return Err(syn::Error::new(key.span, "`retry` is given twice"));
                }
                input.parse::<Token![=]>()?;
                args.retry = Some((key, input.parse()?));
            } else if lookahead.peek(kw::timeout) {
                let key: kw::timeout = input.parse()?;
                if args.timeout.is_some() {
                    return Err(syn::Error::new(key.span, "`timeout` is given twice"));
                }
                input.parse::<Token![=]>()?;
                args.timeout = Some((key, input.parse()?));
            } else if input.peek(syn::Ident) {
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                return Err(syn::Error::new(
                    key.span(),
                    format_args!(
                        "unknown key `{key}` in `#[service(..)]`: expected `depends_on`, `retry` or `timeout`"
                    ),
                ));
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

fn parse_dependency_list(input: ParseStream) -> syn::Result<Vec<Ident>> {
    if !input.peek(syn::token::Bracket) {
        return Err(input.error("expected `[`: write the dependencies as a list, `depends_on = [payments, fraud_check]`"));
    }
    let content;
    bracketed!(content in input);
    let names = Punctuated::<DependencyName, Token![,]>::parse_terminated(&content)?;
    Ok(names.into_iter().map(|name| name.0).collect())
}

struct DependencyName(Ident);

impl Parse for DependencyName {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::Ident) && !input.peek2(Token![::]) {
            return Ok(DependencyName(input.parse()?));
        }
        let token: proc_macro2::TokenTree = input.parse()?;
        Err(syn::Error::new(
            token.span(),
            "expected the name of a service, such as `payments`: a dependency is named by its \
             function's name, without a path or quotes",
        ))
    }
}

/// How a dependent takes a dependency's output, from its parameter's type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DepMode {
    /// `&T`: the service is skipped unless the dependency succeeded.
    Required,
    /// `Option<&T>`: the service runs whatever happened to the dependency.
    Optional,
}

/// A service function, with what the checks need of it.
pub struct ServiceFn {
    pub item: ItemFn,
}

impl ServiceFn {
    pub fn name(&self) -> &Ident {
        &self.item.sig.ident
    }

    pub fn vis(&self) -> &Visibility {
        &self.item.vis
    }

    /// Parameters after the context.
    pub fn dependency_params(&self) -> impl Iterator<Item = &FnArg> {
        self.item.sig.inputs.iter().skip(1)
    }
}

/// The mode of a dependency parameter, or `None` if its type is neither `&T` nor `Option<&T>`.
pub fn dep_mode(ty: &Type) -> Option<DepMode> {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => Some(DepMode::Required),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if last.ident != "Option" {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                syn::GenericArgument::Type(Type::Reference(reference))
                    if args.args.len() == 1 && reference.mutability.is_none() =>
                {
                    Some(DepMode::Optional)
                }
                _ => None,
            }
        }
        Type::Paren(paren) => dep_mode(&paren.elem),
        _ => None,
    }
}

/// `orchestration! { #[attrs] vis name(Payload) { path, path, .. } }`.
pub struct Orchestration {
    pub attrs: Vec<Attribute>,
    /// From `#[orch(..)]`.
    pub settings: Settings,
    pub vis: Visibility,
    pub name: Ident,
    pub payload: Type,
    pub services: Vec<Path>,
}

impl Parse for Orchestration {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut attrs = input.call(Attribute::parse_outer)?;
        let mut settings = Settings::default();
        let mut seen_settings = false;
        const ALLOWED: [&str; 7] = ["doc", "cfg", "allow", "expect", "warn", "deny", "forbid"];
        for attr in &attrs {
            if attr.path().is_ident("orch") {
                if seen_settings {
                    return Err(syn::Error::new_spanned(
                        attr,
                        "`#[orch(..)]` is given twice: put every setting in one",
                    ));
                }
                seen_settings = true;
                settings = attr.parse_args()?;
            } else if !ALLOWED.iter().any(|name| attr.path().is_ident(name)) {
                return Err(syn::Error::new_spanned(
                    attr,
                    "an orchestration takes doc comments, `#[cfg(..)]`, lint attributes and \
                     `#[orch(durable, deadline = .., fail_fast, max_in_flight = ..)]` only",
                ));
            }
        }
        attrs.retain(|attr| !attr.path().is_ident("orch"));
        let vis = input.parse()?;
        let name = input.parse().map_err(|error| {
            syn::Error::new(error.span(), "expected the orchestration's name: `orchestration! { checkout(Order) { payments, analytics } }`")
        })?;
        if !input.peek(syn::token::Paren) {
            return Err(input.error("expected the payload type in parentheses after the orchestration's name, as in `checkout(Order)`"));
        }
        let payload_content;
        parenthesized!(payload_content in input);
        let payload = payload_content.parse()?;
        if !payload_content.is_empty() {
            return Err(payload_content.error("expected one payload type"));
        }
        if !input.peek(syn::token::Brace) {
            return Err(input.error("expected the services in braces: `{ payments, analytics }`"));
        }
        let services_content;
        syn::braced!(services_content in input);
        let services: Vec<Path> =
            Punctuated::<Path, Token![,]>::parse_terminated(&services_content)?
                .into_iter()
                .collect();
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the orchestration: one `orchestration!` declares one orchestration"));
        }
        Ok(Orchestration {
            attrs,
            settings,
            vis,
            name,
            payload,
            services,
        })
    }
}

/// `#[orch(durable, deadline = EXPR, fail_fast, max_in_flight = EXPR)]` on an orchestration:
/// whether its runs resume from their journal, and defaults for each of its runs, which
/// `RunOptions` can override.
#[derive(Default)]
pub struct Settings {
    pub durable: Option<kw::durable>,
    pub deadline: Option<(kw::deadline, Expr)>,
    pub fail_fast: Option<kw::fail_fast>,
    pub max_in_flight: Option<(kw::max_in_flight, Expr)>,
}

impl Parse for Settings {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut settings = Settings::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            let twice = |span: Span, key: &str| {
                syn::Error::new(span, format_args!("`{key}` is given twice"))
            };
            if lookahead.peek(kw::durable) {
                let key: kw::durable = input.parse()?;
                if settings.durable.is_some() {
                    return Err(twice(key.span, "durable"));
                }
                settings.durable = Some(key);
            } else if lookahead.peek(kw::deadline) {
                let key: kw::deadline = input.parse()?;
                if settings.deadline.is_some() {
                    return Err(twice(key.span, "deadline"));
                }
                input.parse::<Token![=]>()?;
                settings.deadline = Some((key, input.parse()?));
            } else if lookahead.peek(kw::fail_fast) {
                let key: kw::fail_fast = input.parse()?;
                if settings.fail_fast.is_some() {
                    return Err(twice(key.span, "fail_fast"));
                }
                settings.fail_fast = Some(key);
            } else if lookahead.peek(kw::max_in_flight) {
                let key: kw::max_in_flight = input.parse()?;
                if settings.max_in_flight.is_some() {
                    return Err(twice(key.span, "max_in_flight"));
                }
                input.parse::<Token![=]>()?;
                settings.max_in_flight = Some((key, input.parse()?));
            } else if input.peek(syn::Ident) {
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                return Err(syn::Error::new(
                    key.span(),
                    format_args!(
                        "unknown setting `{key}` in `#[orch(..)]`: expected `durable`, \
                         `deadline`, `fail_fast` or `max_in_flight`"
                    ),
                ));
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(settings)
    }
}

/// What a service's callback carries to the orchestration: its name, and each dependency with the
/// user's token and the parameter's mode. `poisoned` marks a service whose own expansion failed.
pub struct ServiceMeta {
    pub name: Ident,
    pub deps: Vec<(Ident, DepMode)>,
    pub poisoned: bool,
}

impl ServiceMeta {
    pub fn to_tokens(&self) -> TokenStream {
        let name = &self.name;
        if self.poisoned {
            return quote::quote!((#name poisoned));
        }
        let deps = self.deps.iter().map(|(dep, mode)| match mode {
            DepMode::Required => quote::quote!(#dep required),
            DepMode::Optional => quote::quote!(#dep optional),
        });
        quote::quote!((#name [#(#deps),*]))
    }
}

impl Parse for ServiceMeta {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        parenthesized!(content in input);
        let name = content.parse()?;
        if content.peek(kw::poisoned) {
            content.parse::<kw::poisoned>()?;
            return Ok(ServiceMeta {
                name,
                deps: Vec::new(),
                poisoned: true,
            });
        }
        let list;
        bracketed!(list in content);
        let deps = Punctuated::<DepMeta, Token![,]>::parse_terminated(&list)?;
        Ok(ServiceMeta {
            name,
            deps: deps.into_iter().map(|dep| (dep.0, dep.1)).collect(),
            poisoned: false,
        })
    }
}

struct DepMeta(Ident, DepMode);

impl Parse for DepMeta {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        let mode = if input.peek(kw::required) {
            input.parse::<kw::required>()?;
            DepMode::Required
        } else {
            input.parse::<kw::optional>()?;
            DepMode::Optional
        };
        Ok(DepMeta(name, mode))
    }
}

/// The input of the hidden `__finish!`: `{ orchestration } (meta) (meta) ..`.
pub struct Finish {
    pub orchestration: Orchestration,
    pub metas: Vec<ServiceMeta>,
}

impl Parse for Finish {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        syn::braced!(content in input);
        let orchestration = content.parse()?;
        let mut metas = Vec::new();
        while !input.is_empty() {
            metas.push(input.parse()?);
        }
        Ok(Finish {
            orchestration,
            metas,
        })
    }
}

/// A span for a generated local that resolves like the macro's own code but is reported at the
/// user's token.
pub fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// A name as the user means it: `r#type` is the service `type`.
pub fn text(ident: &Ident) -> String {
    syn::ext::IdentExt::unraw(ident).to_string()
}
