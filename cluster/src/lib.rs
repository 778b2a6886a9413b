//! The cluster half of meshc.
