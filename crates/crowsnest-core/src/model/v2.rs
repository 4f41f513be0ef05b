//! cAdvisor's v2 API types (`info/v2`).
