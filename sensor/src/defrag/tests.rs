//! Unit tests of the defragmenter.
