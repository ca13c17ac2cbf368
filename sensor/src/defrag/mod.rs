//! IP defragmentation (being written).
