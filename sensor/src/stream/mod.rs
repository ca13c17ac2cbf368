//! TCP stream reassembly (being written).
