//! APNs client (in progress).
