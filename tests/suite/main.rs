//! The integration suite: manifold against a real `docker-registry`, checked with `skopeo`.
//! One test binary; one module per area, holding its tests; the harnesses they share in
//! `support`.

mod support;

mod api_edits;
mod api_lists;
mod api_service;

mod cli_edges;
mod cli_errors;
mod cli_inspect;
mod cli_manifest_tool;
mod cli_push;
mod cli_shell;
mod cli_submit;
mod consumers;
mod docs;
mod doctor;
mod edge_input;
mod embedded;
mod engine;
mod engines;
mod errors_wild;
mod faults;
mod hardening;
mod inherit;
mod inspect_raw;
mod inspect_wild;
mod layers;
mod living;
mod living_service;
mod observability;
mod pages;
mod pages_edit;
mod pages_http;
mod pages_living;
mod pages_referrers;
mod queue;
mod quirks;
mod quirks_wild;
mod rate_limits;
mod reads;
mod referrers;
mod referrers_service;
mod registries;
mod registries_page;
mod registries_tls;
mod registries_wild;
mod scripts;
mod store;
mod store_faults;
mod store_filter;
mod store_order;
mod transfers;
mod upgrade;
mod watch;
