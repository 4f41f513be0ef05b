//! Converts the agent's `/api/v1.3/subcontainers/?num_stats=-1` answer (every container with
//! its whole in-memory history) into the store bench's fixture: the canonical samples the
//! agent would append, one batch per container and sample time, in time order.
//!
//!     record_fixture history.json fixture.txt
//!
//! `benches/record_fixture.sh` runs the agent against real cgroups and calls this.

#[allow(dead_code)]
#[path = "common/fixture.rs"]
mod fixture;

use std::collections::HashMap;

use crowsnest_core::batch::{Batch, ContainerContext};
use crowsnest_core::model::ContainerInfo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        return Err("usage: record_fixture history.json fixture.txt".into());
    };
    let infos: Vec<ContainerInfo> = serde_json::from_slice(&std::fs::read(input)?)?;
    let node = "bench-host";
    let mut batches: Vec<Batch> = Vec::new();
    for c in &infos {
        for s in &c.stats {
            let b = Batch::from_container(&c.reference, &c.spec, s, &ContainerContext { node });
            if !b.samples.is_empty() {
                batches.push(b);
            }
        }
    }
    batches.sort_by_key(|b| b.timestamp);
    let mut f = fixture::Fixture::default();
    let mut ids: HashMap<(String, String), u32> = HashMap::new();
    for b in &batches {
        let mut samples = Vec::with_capacity(b.samples.len());
        for s in &b.samples {
            let key = (s.metric.to_string(), serde_json::to_string(&*s.labels)?);
            let next = f.series.len() as u32;
            let id = *ids.entry(key).or_insert_with(|| {
                f.series.push(fixture::SeriesDef {
                    metric: s.metric.to_string(),
                    kind: s.kind,
                    unit: s.unit,
                    labels: s.labels.clone(),
                });
                next
            });
            samples.push((id, s.value));
        }
        f.batches.push(fixture::FBatch {
            ts: b.timestamp.nanos(),
            samples,
        });
    }
    fixture::write(output.as_ref(), &f)?;
    let n: usize = f.batches.iter().map(|b| b.samples.len()).sum();
    eprintln!(
        "{} containers, {} series, {} batches, {n} samples",
        infos.len(),
        f.series.len(),
        f.batches.len()
    );
    // Read it back: the fixture must round-trip.
    let back = fixture::read(output.as_ref())?;
    assert_eq!(back.batches.len(), f.batches.len(), "fixture round-trips");
    for (a, b) in back.batches.iter().zip(&f.batches) {
        assert_eq!(
            (a.ts, &a.samples),
            (b.ts, &b.samples),
            "fixture round-trips"
        );
    }
    Ok(())
}
