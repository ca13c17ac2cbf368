//! Live capture sources, one per worker: the `af-packet` ring or libpcap, behind one type.
//!
//! Both backends put the workers of an interface into one `PACKET_FANOUT_HASH` group (for
//! libpcap, on the socket libpcap opened), so a flow is always seen by the same worker, and
//! both apply the BPF filter in the kernel, so frames outside it never reach a worker.
//! Sockets are opened before the privilege drop; nothing here needs privileges afterwards.

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::afpacket::AfPacketCapture;
use super::{CaptureError, Frame, Timestamp};
use crate::config::{Backend, InterfaceSection};
use crate::decode::LinkType;
use crate::sys::{self, BpfInsn, KernelStats, RingConfig};

/// What the kernel counted for one source since it was opened.
pub type CaptureCounters = KernelStats;

/// One worker's live source.
pub enum LiveSource {
    /// TPACKET_V3 ring.
    AfPacket(AfPacketCapture),
    /// libpcap handle.
    Pcap(PcapLive),
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveSource::AfPacket(a) => f.debug_tuple("AfPacket").field(a).finish(),
            LiveSource::Pcap(p) => f.debug_tuple("Pcap").field(&p.link).finish(),
        }
    }
}

/// A libpcap live handle.
pub struct PcapLive {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
}

fn open_err(iface: &str, reason: impl std::fmt::Display) -> CaptureError {
    CaptureError::Open {
        path: iface.to_string(),
        reason: reason.to_string(),
    }
}

/// The fanout group of an interface: configured, or derived from the process id and the
/// interface index, so two sensors on one host do not join each other's group.
pub fn fanout_group(iface: &InterfaceSection, ifindex: u32) -> u16 {
    iface.fanout_group.unwrap_or_else(|| {
        let mixed = std::process::id().wrapping_mul(2_654_435_761) ^ ifindex.wrapping_mul(40_503);
        (mixed >> 16) as u16 ^ mixed as u16
    })
}

impl LiveSource {
    /// Opens worker `worker`'s source on `iface` (the filter already compiled).
    pub fn open(
        iface: &InterfaceSection,
        filter: Option<&[BpfInsn]>,
    ) -> Result<LiveSource, CaptureError> {
        let ifindex = sys::if_index(&iface.name).map_err(|e| open_err(&iface.name, e))?;
        let group = (iface.workers > 1).then(|| fanout_group(iface, ifindex));
        match iface.backend {
            Backend::AfPacket => {
                let ring = RingConfig {
                    block_size: iface.block_size,
                    block_count: u32::try_from(iface.ring_size / u64::from(iface.block_size))
                        .unwrap_or(u32::MAX),
                    block_timeout_ms: iface.block_timeout,
                    promiscuous: iface.promiscuous,
                };
                AfPacketCapture::open(ifindex, &ring, filter, group)
                    .map(LiveSource::AfPacket)
                    .map_err(|e| open_err(&iface.name, e))
            }
            Backend::Pcap => {
                let cap = pcap::Capture::from_device(iface.name.as_str())
                    .map_err(|e| open_err(&iface.name, e))?
                    .promisc(iface.promiscuous)
                    .snaplen(i32::try_from(iface.snaplen).unwrap_or(65_535))
                    .timeout(i32::try_from(iface.block_timeout).unwrap_or(10).max(1))
                    .buffer_size(i32::try_from(iface.ring_size).unwrap_or(i32::MAX))
                    .open()
                    .and_then(|c| c.setnonblock())
                    .map_err(|e| open_err(&iface.name, e))?;
                let link = LinkType::from_pcap(cap.get_datalink().0).map_err(|linktype| {
                    CaptureError::LinkType {
                        path: iface.name.clone(),
                        linktype,
                    }
                })?;
                let mut cap = cap;
                if let Some(f) = &iface.filter {
                    cap.filter(f, true)
                        .map_err(|e| open_err(&iface.name, format!("filter {f:?}: {e}")))?;
                }
                if let Some(g) = group {
                    sys::join_fanout(cap.as_raw_fd(), g).map_err(|e| open_err(&iface.name, e))?;
                }
                Ok(LiveSource::Pcap(PcapLive { cap, link }))
            }
        }
    }

    /// Hands the frames that are ready to `f`, waiting up to about `timeout` for the first;
    /// returns how many.
    pub fn next_batch(
        &mut self,
        timeout: Duration,
        f: &mut impl FnMut(&Frame<'_>),
    ) -> Result<usize, CaptureError> {
        match self {
            LiveSource::AfPacket(a) => a.next_batch(timeout, f).map_err(|e| CaptureError::Read {
                path: "af-packet".into(),
                packets: 0,
                reason: e.to_string(),
            }),
            LiveSource::Pcap(p) => {
                let mut n = 0;
                let mut waited = false;
                // Non-blocking reads; we wait in poll ourselves (libpcap's own timeout does
                // not fire on an idle TPACKET_V3 ring, which would hang a stop).
                while n < 256 {
                    match p.cap.next_packet() {
                        Ok(pkt) => {
                            n += 1;
                            f(&Frame {
                                ts: Timestamp {
                                    secs: pkt.header.ts.tv_sec,
                                    usecs: u32::try_from(pkt.header.ts.tv_usec.clamp(0, 999_999))
                                        .unwrap_or(0),
                                },
                                wire_len: pkt.header.len,
                                data: pkt.data,
                                link: p.link,
                            });
                        }
                        Err(pcap::Error::TimeoutExpired) if n == 0 && !waited => {
                            waited = true;
                            let fd = p.cap.as_raw_fd();
                            sys::poll_readable(fd, timeout).map_err(|e| CaptureError::Read {
                                path: "pcap".into(),
                                packets: 0,
                                reason: e.to_string(),
                            })?;
                        }
                        Err(pcap::Error::TimeoutExpired) => break,
                        Err(e) => {
                            return Err(CaptureError::Read {
                                path: "pcap".into(),
                                packets: n as u64,
                                reason: e.to_string(),
                            })
                        }
                    }
                }
                Ok(n)
            }
        }
    }

    /// Kernel counters since the source was opened (packets include drops).
    pub fn counters(&mut self) -> CaptureCounters {
        match self {
            LiveSource::AfPacket(a) => a.kernel_stats(),
            LiveSource::Pcap(p) => match p.cap.stats() {
                Ok(s) => KernelStats {
                    packets: u64::from(s.received),
                    drops: u64::from(s.dropped),
                },
                Err(_) => KernelStats::default(),
            },
        }
    }
}
