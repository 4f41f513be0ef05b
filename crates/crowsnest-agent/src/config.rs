//! (in progress)
pub struct AgentConfig;
