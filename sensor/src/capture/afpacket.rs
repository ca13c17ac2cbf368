//! Live capture from a TPACKET_V3 ring (`af-packet`): frames are handed to the pipeline in
//! place, straight out of the memory the kernel wrote them to.
//!
//! One [`AfPacketCapture`] per worker; the workers of an interface join one fanout group in
//! hash mode, so each flow (both directions: the kernel's flow hash is symmetric) is seen by
//! exactly one worker and no state is shared. The only copy is for frames whose VLAN tag the
//! kernel moved into the ring header: the tag is put back in a buffer allocated once, so the
//! decoder sees the frame as it was on the wire.

use std::time::Duration;

use super::{Frame, Timestamp};
use crate::decode::LinkType;
use crate::sys::{self, AfPacketRing, BpfInsn, KernelStats, RingConfig};

/// One worker's ring on one interface.
#[derive(Debug)]
pub struct AfPacketCapture {
    ring: AfPacketRing,
    vlan_buf: Vec<u8>,
    kernel: KernelStats,
}

impl AfPacketCapture {
    /// Opens a ring on `ifindex` with `filter`, and joins fanout group `group` when given.
    pub fn open(
        ifindex: u32,
        cfg: &RingConfig,
        filter: Option<&[BpfInsn]>,
        group: Option<u16>,
    ) -> std::io::Result<AfPacketCapture> {
        let ring = AfPacketRing::open(ifindex, cfg, filter)?;
        if let Some(g) = group {
            sys::join_fanout(ring.raw_fd(), g)?;
        }
        Ok(AfPacketCapture {
            ring,
            vlan_buf: Vec::with_capacity(cfg.block_size as usize),
            kernel: KernelStats::default(),
        })
    }

    /// Hands every frame of the next filled block to `f`, waiting up to `timeout` for one;
    /// returns how many frames there were.
    pub fn next_batch(
        &mut self,
        timeout: Duration,
        f: &mut impl FnMut(&Frame<'_>),
    ) -> std::io::Result<usize> {
        let Some(block) = self.ring.next_block(timeout)? else {
            return Ok(0);
        };
        let mut n = 0;
        for rf in block.frames() {
            n += 1;
            let ts = Timestamp {
                secs: i64::from(rf.sec),
                usecs: rf.nsec / 1000,
            };
            match rf.vlan {
                None => f(&Frame {
                    ts,
                    wire_len: rf.wire_len,
                    data: rf.data,
                    link: LinkType::Ethernet,
                }),
                Some((tpid, tci)) => {
                    let buf = &mut self.vlan_buf;
                    buf.clear();
                    let (macs, rest) = rf.data.split_at(rf.data.len().min(12));
                    buf.extend_from_slice(macs);
                    buf.extend_from_slice(&tpid.to_be_bytes());
                    buf.extend_from_slice(&tci.to_be_bytes());
                    buf.extend_from_slice(rest);
                    f(&Frame {
                        ts,
                        wire_len: rf.wire_len.saturating_add(4),
                        data: buf,
                        link: LinkType::Ethernet,
                    });
                }
            }
        }
        Ok(n)
    }

    /// Kernel counters since the socket was opened.
    pub fn kernel_stats(&mut self) -> KernelStats {
        // Reading resets the kernel's counters, so they are accumulated here.
        if let Ok(s) = sys::packet_statistics(self.ring.raw_fd()) {
            self.kernel.packets += s.packets;
            self.kernel.drops += s.drops;
        }
        self.kernel
    }
}
