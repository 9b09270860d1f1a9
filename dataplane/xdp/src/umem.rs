//! umem
