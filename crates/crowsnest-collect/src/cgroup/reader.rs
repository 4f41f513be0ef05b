//! (in progress)
pub struct CgroupReader;
