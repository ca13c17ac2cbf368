//! Every call into the operating system that needs `unsafe`, in one place.
//!
//! The live daemon needs a handful of Linux interfaces that have no safe wrapper in the
//! standard library: the TPACKET_V3 memory-mapped receive ring of an `AF_PACKET` socket
//! (with fanout, a classic-BPF filter and the kernel's drop counters), signal masks and
//! `sigtimedwait`, and the user/group/capability calls of a privilege drop. Each is wrapped
//! here in a small safe type or function; callers elsewhere never see a raw pointer, and the
//! rest of the crate keeps `unsafe_code = "deny"`. Every `unsafe` block carries a SAFETY
//! comment, and the tests at the bottom exercise each wrapper (the socket ones only as root).
//!
//! The ring is read without copying: a block the kernel handed to user space (status
//! `TP_STATUS_USER`, read with acquire ordering) is borrowed as a byte slice until the
//! [`RingBlock`] is dropped, which gives it back (`TP_STATUS_KERNEL`, release ordering).
//! Frame headers inside a block are parsed with bounds-checked reads, so a corrupt offset
//! ends the block instead of reading outside it.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// Linux ABI constants (linux/if_packet.h, linux/socket.h, linux/prctl.h), stable for years;
// spelled out because not every libc release exports them.
const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const TPACKET_V3: libc::c_int = 2;
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
const SO_ATTACH_FILTER: libc::c_int = 26;
const ETH_P_ALL: u16 = 0x0003;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PR_SET_KEEPCAPS: libc::c_int = 8;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// `CAP_NET_ADMIN`.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`.
pub const CAP_NET_RAW: u32 = 13;

/// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then `tpacket_hdr_v1`).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
/// Where the bytes lent as a slice start: after the status word, which is only ever accessed
/// atomically (never through the slice).
const BLOCK_LENT: usize = BLOCK_STATUS + 4;
/// Offsets in `struct tpacket3_hdr`.
const PKT_NEXT: usize = 0;
const PKT_SEC: usize = 4;
const PKT_NSEC: usize = 8;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_STATUS: usize = 20;
const PKT_MAC: usize = 24;
const PKT_VLAN_TCI: usize = 32;
const PKT_VLAN_TPID: usize = 36;
const PKT_HDR_LEN: usize = 48;

fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

/// Sets an integer-or-struct socket option.
fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: `value` is a live reference to a `T` of exactly `size_of::<T>()` bytes, which
    // the kernel only reads during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(last_error(what));
    }
    Ok(())
}

/// One classic-BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const BpfInsn,
}

/// Attaches a classic-BPF program to socket `fd` (`SO_ATTACH_FILTER`).
pub fn attach_filter(fd: RawFd, prog: &[BpfInsn]) -> io::Result<()> {
    let len = libc::c_ushort::try_from(prog.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
    let fprog = SockFprog {
        len,
        filter: prog.as_ptr(),
    };
    // The kernel copies the program during the call; `prog` outlives it.
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        SO_ATTACH_FILTER,
        &fprog,
        "SO_ATTACH_FILTER",
    )
}

/// Joins socket `fd` (bound to an interface) to fanout group `group` in hash mode, with
/// IP defragmentation before hashing so all fragments of a datagram reach one socket. The
/// kernel's flow hash is symmetric, so both directions of a flow go to the same socket.
pub fn join_fanout(fd: RawFd, group: u16) -> io::Result<()> {
    let arg: u32 = u32::from(group) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
    setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, "PACKET_FANOUT")
}

/// The kernel's counters of a packet socket since the last read (reading resets them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets that reached the socket, including those dropped.
    pub packets: u64,
    /// Packets dropped because the ring was full.
    pub drops: u64,
}

/// Reads and resets `PACKET_STATISTICS` of a TPACKET_V3 socket.
pub fn packet_statistics(fd: RawFd) -> io::Result<KernelStats> {
    let mut st = [0u32; 3]; // struct tpacket_stats_v3 { packets, drops, freeze_q_cnt }
    let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
    // SAFETY: `st` is 12 writable bytes and `len` says so; the kernel writes at most `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_PACKET,
            PACKET_STATISTICS,
            st.as_mut_ptr().cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(last_error("PACKET_STATISTICS"));
    }
    Ok(KernelStats {
        packets: u64::from(st[0]),
        drops: u64::from(st[1]),
    })
}

/// Index of interface `name` in the current network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(last_error(&format!("interface {name}")));
    }
    Ok(idx)
}

/// Ring geometry of an [`AfPacketRing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block: a power of two, at least the page size.
    pub block_size: u32,
    /// Blocks in the ring.
    pub block_count: u32,
    /// Milliseconds after which the kernel hands over a block that is not full.
    pub block_timeout_ms: u32,
    /// Put the interface in promiscuous mode while the socket is open.
    pub promiscuous: bool,
}

/// An `AF_PACKET` socket with a TPACKET_V3 receive ring mapped into this process.
#[derive(Debug)]
pub struct AfPacketRing {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    block_size: usize,
    block_count: usize,
    next: usize,
}

// SAFETY: the mapping is owned by this value alone (no aliases are handed out beyond a
// `RingBlock` that borrows `&mut self`), so moving it to another thread is sound.
unsafe impl Send for AfPacketRing {}

impl AfPacketRing {
    /// Opens a socket on interface `ifindex`: ring, then `filter` (if any), then bind, so no
    /// packet that the filter would refuse, or from another interface, is ever queued.
    pub fn open(ifindex: u32, cfg: &RingConfig, filter: Option<&[BpfInsn]>) -> io::Result<Self> {
        let page = page_size();
        let block_size = cfg.block_size as usize;
        if !block_size.is_power_of_two() || block_size < page || cfg.block_count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("block size {block_size} must be a power of two >= {page}, with at least one block"),
            ));
        }
        // Protocol 0: the socket receives nothing until it is bound below.
        // SAFETY: plain syscall with constant arguments.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(last_error("socket(AF_PACKET)"));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt(
            raw,
            SOL_PACKET,
            PACKET_VERSION,
            &TPACKET_V3,
            "PACKET_VERSION",
        )?;
        let frame_size: u32 = 2048;
        let req = [
            cfg.block_size,                                                // tp_block_size
            cfg.block_count,                                               // tp_block_nr
            frame_size,                                                    // tp_frame_size
            (cfg.block_size / frame_size).saturating_mul(cfg.block_count), // tp_frame_nr
            cfg.block_timeout_ms.max(1),                                   // tp_retire_blk_tov
            0,                                                             // tp_sizeof_priv
            0,                                                             // tp_feature_req_word
        ];
        setsockopt(raw, SOL_PACKET, PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        let map_len = block_size
            .checked_mul(cfg.block_count as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "ring too large"))?;
        // SAFETY: maps the ring the kernel just allocated for this socket; the result is
        // checked against MAP_FAILED and unmapped in Drop.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                raw,
                0,
            )
        };
        let map = if map == libc::MAP_FAILED {
            // MAP_LOCKED needs RLIMIT_MEMLOCK room; retry without it.
            // SAFETY: as above.
            let m = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    raw,
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                return Err(last_error("mmap of the packet ring"));
            }
            m
        } else {
            map
        };
        let ring = AfPacketRing {
            fd,
            map: map.cast::<u8>(),
            map_len,
            block_size,
            block_count: cfg.block_count as usize,
            next: 0,
        };
        if let Some(prog) = filter {
            attach_filter(raw, prog)?;
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad ifindex"))?;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(last_error("bind(AF_PACKET)"));
        }
        if cfg.promiscuous {
            // struct packet_mreq { int ifindex; u16 type; u16 alen; u8 address[8]; }
            #[repr(C)]
            struct Mreq {
                ifindex: libc::c_int,
                kind: libc::c_ushort,
                alen: libc::c_ushort,
                address: [u8; 8],
            }
            let m = Mreq {
                ifindex: sll.sll_ifindex,
                kind: PACKET_MR_PROMISC,
                alen: 0,
                address: [0; 8],
            };
            setsockopt(
                raw,
                SOL_PACKET,
                PACKET_ADD_MEMBERSHIP,
                &m,
                "PACKET_ADD_MEMBERSHIP",
            )?;
        }
        Ok(ring)
    }

    fn status_word(&self, block: usize) -> &AtomicU32 {
        // SAFETY: `block < block_count`, so the word at `block * block_size + 8` lies inside
        // the mapping, is 4-byte aligned (blocks are page aligned), and lives as long as
        // `self`. The kernel updates it concurrently, which is why it is only ever accessed
        // atomically.
        unsafe {
            AtomicU32::from_ptr(
                self.map
                    .add(block * self.block_size + BLOCK_STATUS)
                    .cast::<u32>(),
            )
        }
    }

    /// The next block the kernel has filled, waiting up to `timeout` for one.
    pub fn next_block(&mut self, timeout: Duration) -> io::Result<Option<RingBlock<'_>>> {
        let idx = self.next;
        if self.status_word(idx).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd, count 1.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(None);
                }
                return Err(e);
            }
            if self.status_word(idx).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                return Ok(None);
            }
        }
        self.next = (idx + 1) % self.block_count;
        // SAFETY: the block belongs to user space until its status is reset (the acquire load
        // above ordered the kernel's writes before our reads); the slice lies inside the
        // mapping, leaves out the status word (written atomically on release), and is given
        // back in `RingBlock::drop` before `self` can be borrowed again.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                self.map.add(idx * self.block_size + BLOCK_LENT),
                self.block_size - BLOCK_LENT,
            )
        };
        Ok(Some(RingBlock {
            bytes,
            status: self.status_word(idx),
        }))
    }

    /// The socket, for [`packet_statistics`].
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for AfPacketRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `open`; no borrow of it can outlive
        // `self` (RingBlock borrows `&mut self`).
        unsafe {
            libc::munmap(self.map.cast::<libc::c_void>(), self.map_len);
        }
    }
}

/// A block of frames lent by the kernel; given back when dropped.
#[derive(Debug)]
pub struct RingBlock<'a> {
    /// The block from offset [`BLOCK_LENT`] on.
    bytes: &'a [u8],
    status: &'a AtomicU32,
}

/// One frame in a [`RingBlock`].
#[derive(Debug, Clone, Copy)]
pub struct RingFrame<'a> {
    /// Seconds of the capture time.
    pub sec: u32,
    /// Nanoseconds of the capture time.
    pub nsec: u32,
    /// Length on the wire.
    pub wire_len: u32,
    /// The captured bytes (from the MAC header).
    pub data: &'a [u8],
    /// The VLAN tag the NIC or kernel stripped (TPID, TCI), to be put back for decoding.
    pub vlan: Option<(u16, u16)>,
}

impl<'a> RingBlock<'a> {
    /// The block's frames, in order; a header that points outside the block ends the walk.
    pub fn frames(&self) -> RingFrames<'a> {
        let bytes = self.bytes;
        let count = rd_u32(bytes, BLOCK_NUM_PKTS - BLOCK_LENT).unwrap_or(0);
        // Offsets in the block are from its start; the lent slice starts BLOCK_LENT later.
        let first = rd_u32(bytes, BLOCK_FIRST_PKT - BLOCK_LENT)
            .and_then(|f| (f as usize).checked_sub(BLOCK_LENT));
        RingFrames {
            bytes,
            at: first.unwrap_or(0),
            left: if first.is_some() { count } else { 0 },
        }
    }
}

impl Drop for RingBlock<'_> {
    fn drop(&mut self) {
        self.status.store(TP_STATUS_KERNEL, Ordering::Release);
    }
}

/// Iterator over a block's frames.
#[derive(Debug)]
pub struct RingFrames<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u32,
}

impl<'a> Iterator for RingFrames<'a> {
    type Item = RingFrame<'a>;

    fn next(&mut self) -> Option<RingFrame<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let frame = parse_frame(self.bytes, self.at);
        match (frame, rd_u32(self.bytes, self.at + PKT_NEXT)) {
            (Some(f), Some(next)) if next != 0 || self.left == 0 => {
                self.at = self.at.saturating_add(next as usize);
                Some(f)
            }
            _ => {
                self.left = 0;
                None
            }
        }
    }
}

/// Parses the `tpacket3_hdr` at `at` in `block` with bounds checks.
fn parse_frame(block: &[u8], at: usize) -> Option<RingFrame<'_>> {
    let hdr = block.get(at..at.checked_add(PKT_HDR_LEN)?)?;
    let snaplen = rd_u32(hdr, PKT_SNAPLEN)? as usize;
    let mac = usize::from(rd_u16(hdr, PKT_MAC)?);
    let status = rd_u32(hdr, PKT_STATUS)?;
    let start = at.checked_add(mac)?;
    let data = block.get(start..start.checked_add(snaplen)?)?;
    let vlan = if status & TP_STATUS_VLAN_VALID != 0 {
        let tci = rd_u32(hdr, PKT_VLAN_TCI)? as u16;
        let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
            rd_u16(hdr, PKT_VLAN_TPID)?
        } else {
            0x8100
        };
        Some((tpid, tci))
    } else {
        None
    };
    Some(RingFrame {
        sec: rd_u32(hdr, PKT_SEC)?,
        nsec: rd_u32(hdr, PKT_NSEC)?,
        wire_len: rd_u32(hdr, PKT_LEN)?,
        data,
        vlan,
    })
}

/// Waits up to `timeout` for `fd` to become readable; false on timeout or interruption.
pub fn poll_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(rc > 0)
}

/// The system's page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(4096)
}

/// Effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// A user looked up in the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks `name` up with `getpwnam_r`; `Ok(None)` when there is no such user.
pub fn lookup_user(name: &str) -> io::Result<Option<User>> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name has NUL"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data; zeroed is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's size; the
    // strings libc writes into `buf` are not used after `buf` is dropped (only ids are kept).
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Ok(None);
    }
    Ok(Some(User {
        name: name.to_string(),
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    }))
}

/// Becomes `user` (uid, gid, no supplementary groups) keeping only the capabilities in
/// `keep` (effective and permitted; `CAP_NET_RAW`, `CAP_NET_ADMIN`), then checks that
/// root cannot be regained. Call before starting threads: capabilities are per thread and
/// new threads inherit the caller's.
pub fn drop_privileges(user: &User, keep: &[u32]) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(PR_SET_KEEPCAPS, 1 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(last_error("prctl(PR_SET_KEEPCAPS)"));
    }
    let groups = [user.gid];
    // SAFETY: one valid gid in a live array.
    if unsafe { libc::setgroups(1, groups.as_ptr()) } != 0 {
        return Err(last_error("setgroups"));
    }
    // SAFETY: plain syscalls (glibc applies them to every thread).
    if unsafe { libc::setresgid(user.gid, user.gid, user.gid) } != 0 {
        return Err(last_error("setresgid"));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(user.uid, user.uid, user.uid) } != 0 {
        return Err(last_error("setresuid"));
    }
    let mut mask = 0u32;
    for c in keep {
        mask |= 1u32 << c;
    }
    set_capabilities(mask)?;
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(PR_SET_KEEPCAPS, 0 as libc::c_ulong, 0, 0, 0) };
    // SAFETY: plain syscall; it must fail now.
    if user.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(io::Error::other(
            "privilege drop failed: setuid(0) succeeded",
        ));
    }
    Ok(())
}

/// Sets this thread's effective and permitted capabilities to `mask` (bits 0..32),
/// inheritable to none.
pub fn set_capabilities(mask: u32) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: mask,
            permitted: mask,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads a v3 header and two data structs, which is what we pass.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    if rc != 0 {
        return Err(last_error("capset"));
    }
    Ok(())
}

/// The signals the daemon handles synchronously.
pub const HANDLED_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; signal numbers are valid constants.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
    }
    set
}

/// Blocks `signals` in the calling thread (and so in threads it starts afterwards), so they
/// are only ever received through [`wait_signal`].
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
    let set = sigset(signals);
    // SAFETY: valid set pointer, null old-set pointer.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits up to `timeout` for one of `signals` (which must be blocked); its number or `None`.
pub fn wait_signal(signals: &[libc::c_int], timeout: Duration) -> Option<libc::c_int> {
    let set = sigset(signals);
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: valid set and timespec; a null siginfo pointer is allowed.
    let rc = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    (rc > 0).then_some(rc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Builds a fake TPACKET_V3 block with the given frames.
    fn fake_block(frames: &[&[u8]], size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&48u32.to_ne_bytes());
        let mut at = 48;
        for (i, f) in frames.iter().enumerate() {
            let mac = 64u16;
            let next = if i + 1 == frames.len() {
                0
            } else {
                (mac as usize + f.len() + 15) & !15
            };
            b[at + PKT_NEXT..at + 4].copy_from_slice(&(next as u32).to_ne_bytes());
            b[at + PKT_SEC..at + PKT_SEC + 4].copy_from_slice(&7u32.to_ne_bytes());
            b[at + PKT_SNAPLEN..at + PKT_SNAPLEN + 4]
                .copy_from_slice(&(f.len() as u32).to_ne_bytes());
            b[at + PKT_LEN..at + PKT_LEN + 4].copy_from_slice(&(f.len() as u32).to_ne_bytes());
            b[at + PKT_MAC..at + PKT_MAC + 2].copy_from_slice(&mac.to_ne_bytes());
            b[at + mac as usize..at + mac as usize + f.len()].copy_from_slice(f);
            at += next;
        }
        b
    }

    #[test]
    fn parses_frames_and_stops_at_bad_offsets() {
        let block = fake_block(&[b"abc", b"defgh"], 4096);
        let status = AtomicU32::new(TP_STATUS_USER);
        let rb = RingBlock {
            bytes: &block[BLOCK_LENT..],
            status: &status,
        };
        let got: Vec<_> = rb.frames().map(|f| f.data.to_vec()).collect();
        assert_eq!(got, vec![b"abc".to_vec(), b"defgh".to_vec()]);
        drop(rb);
        assert_eq!(status.load(Ordering::Relaxed), TP_STATUS_KERNEL);

        // A snap length running past the block end yields nothing, not a panic.
        let mut bad = fake_block(&[b"abc"], 256);
        bad[48 + PKT_SNAPLEN..48 + PKT_SNAPLEN + 4].copy_from_slice(&100_000u32.to_ne_bytes());
        let status = AtomicU32::new(TP_STATUS_USER);
        let rb = RingBlock {
            bytes: &bad[BLOCK_LENT..],
            status: &status,
        };
        assert_eq!(rb.frames().count(), 0);
        // A count larger than what is there stops at the first bad header.
        let mut many = fake_block(&[b"abc"], 256);
        many[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&1000u32.to_ne_bytes());
        let rb = RingBlock {
            bytes: &many[BLOCK_LENT..],
            status: &status,
        };
        assert!(rb.frames().count() <= 1);
        // A first-frame offset inside the block header yields nothing.
        let mut early = fake_block(&[b"abc"], 256);
        early[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&4u32.to_ne_bytes());
        let rb = RingBlock {
            bytes: &early[BLOCK_LENT..],
            status: &status,
        };
        assert_eq!(rb.frames().count(), 0);
    }

    #[test]
    fn blocked_signals_wait_with_a_timeout() {
        // Only the waiting half: raising SIGHUP here could reach another test thread that
        // does not block it and end the test process (the daemon test covers delivery).
        block_signals(&[libc::SIGHUP]).unwrap();
        let before = std::time::Instant::now();
        assert_eq!(
            wait_signal(&[libc::SIGHUP], Duration::from_millis(50)),
            None
        );
        assert!(before.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn users_and_ids() {
        let root = lookup_user("root").unwrap().expect("root exists");
        assert_eq!(root.uid, 0);
        assert_eq!(lookup_user("no-such-user-xyz").unwrap(), None);
        assert!(lookup_user("a\0b").is_err());
        let _ = euid();
        assert!(page_size() >= 4096);
        assert!(if_index("lo").unwrap() >= 1);
        assert!(if_index("no-such-if0").is_err());
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        assert!(!poll_readable(a.as_raw_fd(), Duration::from_millis(5)).unwrap());
        b.send(b"x").unwrap();
        assert!(poll_readable(a.as_raw_fd(), Duration::from_millis(5)).unwrap());
    }

    #[test]
    fn ring_opens_on_loopback_as_root() {
        if euid() != 0 {
            eprintln!("SKIP ring_opens_on_loopback_as_root: needs root");
            return;
        }
        let cfg = RingConfig {
            block_size: 1 << 16,
            block_count: 4,
            block_timeout_ms: 5,
            promiscuous: false,
        };
        // Accept nothing: `ret #0`.
        let reject = [BpfInsn {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        let mut ring = AfPacketRing::open(if_index("lo").unwrap(), &cfg, Some(&reject)).unwrap();
        join_fanout(ring.raw_fd(), 0x7a5e).unwrap();
        let _ = ring.next_block(Duration::from_millis(20)).unwrap();
        let st = packet_statistics(ring.raw_fd()).unwrap();
        assert_eq!(st.drops, 0);
        let bad = RingConfig {
            block_size: 1000,
            ..cfg
        };
        assert!(AfPacketRing::open(1, &bad, None).is_err());
    }
}
