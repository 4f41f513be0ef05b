//! Integration tests of crowsnest-formats: the Prometheus encoder against cAdvisor's own
//! golden output, its behaviour rules, `promtool`, and its speed.

mod behaviour;
mod fixtures;
mod golden;
mod promtool;
