//! Every libc and libbpf C call of the crate, each turned into an `io::Result` at once.
//!
//! Modelled on s2n-quic-xdp's `syscall.rs`: callers above this module stay safe code. Each
//! wrapper names the upstream interface it mirrors.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn cstring(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// `if_nametoindex(3)`: the index of a link in the calling thread's network namespace.
pub fn if_nametoindex(ifname: &str) -> io::Result<u32> {
    let name = cstring(ifname)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// `bpf_link_create(prog, ifindex, BPF_XDP, {flags})` (libbpf `bpf.h`): attaches an XDP program
/// through a link, so that closing the last fd (process exit, SIGKILL included) detaches it.
/// `flags` is `XDP_FLAGS_DRV_MODE` or `XDP_FLAGS_SKB_MODE`.
pub fn xdp_link_create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
    let opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as libbpf_sys::size_t,
        flags,
        ..Default::default()
    };
    // SAFETY: `opts` is a fully initialised options struct whose `sz` is its size; the program fd
    // is borrowed for the duration of the call.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex, libbpf_sys::BPF_XDP, &opts)
    };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: a non-negative return is a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The result of one `BPF_PROG_TEST_RUN` of an XDP program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The XDP action the program returned.
    pub retval: u32,
    /// The packet after the run (programs may rewrite it).
    pub data_out: Vec<u8>,
}

/// `bpf_prog_test_run_opts` (libbpf `bpf.h`, kernel `bpf_prog_test_run_xdp`): runs an XDP
/// program once on `data`. With `ingress` = `Some((ifindex, rx_queue))` the context says the
/// packet arrived on that link and queue (the link must exist in this namespace).
pub fn xdp_test_run(
    prog: BorrowedFd<'_>,
    data: &[u8],
    ingress: Option<(u32, u32)>,
) -> io::Result<TestRun> {
    let size = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too large"))?;
    let mut out = vec![0u8; data.len() + 256];
    let mut ctx = libbpf_sys::xdp_md {
        data: 0,
        data_end: size,
        ..Default::default()
    };
    if let Some((ifindex, queue)) = ingress {
        ctx.ingress_ifindex = ifindex;
        ctx.rx_queue_index = queue;
    }
    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as libbpf_sys::size_t,
        data_in: data.as_ptr().cast(),
        data_out: out.as_mut_ptr().cast(),
        data_size_in: size,
        data_size_out: out.len() as u32,
        repeat: 1,
        ..Default::default()
    };
    if ingress.is_some() {
        opts.ctx_in = std::ptr::from_ref(&ctx).cast();
        opts.ctx_size_in = std::mem::size_of::<libbpf_sys::xdp_md>() as u32;
    }
    // SAFETY: every pointer in `opts` points into `data`, `out` or `ctx`, which outlive the call,
    // and the sizes given are their lengths.
    let ret = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut opts) };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    out.truncate(opts.data_size_out as usize);
    Ok(TestRun {
        retval: opts.retval,
        data_out: out,
    })
}

/// `setsockopt(fd, SOL_SOCKET, opt, &value)` for an `int` option (busy-poll options).
pub fn setsockopt_int(fd: RawFd, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a valid `int` for the duration of the call and its size is passed.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `SO_BUSY_POLL` (`asm-generic/socket.h`).
pub const SO_BUSY_POLL: libc::c_int = 46;
/// `SO_PREFER_BUSY_POLL`.
pub const SO_PREFER_BUSY_POLL: libc::c_int = 69;
/// `SO_BUSY_POLL_BUDGET`.
pub const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// `poll(2)` on one fd; returns the `revents`, or 0 on timeout. `EINTR` counts as a timeout.
pub fn poll_one(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd and we pass a count of 1.
    let ret = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(if ret == 0 { 0 } else { pfd.revents })
}

/// `recvfrom(fd, NULL, 0, MSG_DONTWAIT)`: the AF_XDP RX wakeup (drives busy polling and the fill
/// ring when `need_wakeup` is set). `EAGAIN`/`EBUSY`/`ENETDOWN` are not errors here.
pub fn xsk_rx_wakeup(fd: RawFd) -> io::Result<()> {
    // SAFETY: a zero-length receive with null buffers is the documented AF_XDP wakeup.
    let ret = unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EBUSY | libc::ENETDOWN | libc::ENOBUFS) => Ok(()),
            _ => Err(err),
        }
    } else {
        Ok(())
    }
}

/// `sched_getaffinity(0)`: the CPUs the calling thread may run on, ascending (what a static
/// CPU manager grants a Guaranteed pod, inherited from the container's first process).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t and its size is passed.
    let ret =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, so CPU_ISSET reads inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// `sched_setaffinity(0, {cpu})`: pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cpu index too large",
        ));
    }
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked), so CPU_SET stays inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t and its size is passed.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getrlimit(RLIMIT_MEMLOCK)`: the soft limit in bytes (`u64::MAX` for unlimited).
pub fn memlock_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to write into.
    let ret = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(if limit.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        limit.rlim_cur
    })
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x3;

#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

#[repr(C)]
struct IfreqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    pad: [u8; 16],
}

/// `ioctl(SIOCETHTOOL, ETHTOOL_GDRVINFO)` (`linux/ethtool.h`): the driver name of a link, e.g.
/// `veth`, `ice`, `mlx5_core`.
pub fn ethtool_driver(ifname: &str) -> io::Result<String> {
    let sock = udp_socket()?;
    let mut info = EthtoolDrvinfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    let mut ifr = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: std::ptr::from_mut(&mut info).cast(),
        pad: [0; 16],
    };
    let bytes = ifname.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    ifr.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `ifr` is an ifreq-sized struct whose data pointer points at `info`, both alive for
    // the call; SIOCETHTOOL with ETHTOOL_GDRVINFO writes only into `info`.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut ifr) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

fn udp_socket() -> io::Result<OwnedFd> {
    socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
}

fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)` in the calling thread's network namespace.
pub fn netlink_route_socket() -> io::Result<OwnedFd> {
    socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
}

/// `send(2)` of one whole message (netlink requests go to the kernel, port 0, by default).
pub fn send_all(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<()> {
    // SAFETY: `buf` is valid for reads of its length during the call.
    let ret = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret as usize != buf.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
    }
    Ok(())
}

/// `recv(2)` into `buf`; returns the number of bytes received.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length during the call.
        let ret = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if ret >= 0 {
            return Ok(ret as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// One datagram slot for [`recvmmsg`] / [`sendmmsg`]: a buffer, its used length and the peer.
#[derive(Debug, Clone)]
pub struct DatagramSlot {
    /// Payload buffer (its full length is offered to `recvmmsg`).
    pub buf: Vec<u8>,
    /// Bytes used.
    pub len: usize,
    /// The peer address (`sockaddr_storage`), filled by `recvmmsg`, used by `sendmmsg`.
    addr: libc::sockaddr_storage,
    addr_len: libc::socklen_t,
}

impl DatagramSlot {
    /// A slot with a `size`-byte buffer.
    pub fn new(size: usize) -> Self {
        DatagramSlot {
            buf: vec![0; size],
            len: 0,
            // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) address.
            addr: unsafe { std::mem::zeroed() },
            addr_len: 0,
        }
    }
}

fn mmsg_headers(
    slots: &mut [DatagramSlot],
    iovs: &mut Vec<libc::iovec>,
    receive: bool,
) -> Vec<libc::mmsghdr> {
    iovs.clear();
    for slot in slots.iter_mut() {
        let len = if receive { slot.buf.len() } else { slot.len };
        iovs.push(libc::iovec {
            iov_base: slot.buf.as_mut_ptr().cast(),
            iov_len: len,
        });
    }
    slots
        .iter_mut()
        .zip(iovs.iter_mut())
        .map(|(slot, iov)| {
            // SAFETY: an all-zero msghdr is valid; the pointers are set just below.
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_name = std::ptr::from_mut(&mut slot.addr).cast();
            hdr.msg_namelen = if receive {
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t
            } else {
                slot.addr_len
            };
            hdr.msg_iov = iov;
            hdr.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            }
        })
        .collect()
}

/// `recvmmsg(2)` without blocking: fills up to `slots.len()` slots and returns how many.
/// `EAGAIN` gives 0.
pub fn recvmmsg(
    fd: RawFd,
    slots: &mut [DatagramSlot],
    iovs: &mut Vec<libc::iovec>,
) -> io::Result<usize> {
    let mut hdrs = mmsg_headers(slots, iovs, true);
    // SAFETY: every header points into `slots` and `iovs`, which outlive the call and are not
    // otherwise accessed during it; the count is the headers' length.
    let ret = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            hdrs.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(err)
        };
    }
    let n = ret as usize;
    for (slot, hdr) in slots.iter_mut().zip(&hdrs).take(n) {
        slot.len = hdr.msg_len as usize;
        slot.addr_len = hdr.msg_hdr.msg_namelen;
    }
    Ok(n)
}

/// `sendmmsg(2)` of the first `count` slots, each to the peer it was received from. Returns how
/// many were sent (`EAGAIN` gives 0).
pub fn sendmmsg(
    fd: RawFd,
    slots: &mut [DatagramSlot],
    count: usize,
    iovs: &mut Vec<libc::iovec>,
) -> io::Result<usize> {
    let count = count.min(slots.len());
    let mut hdrs = mmsg_headers(&mut slots[..count], iovs, false);
    // SAFETY: as in `recvmmsg`; the kernel only reads the buffers and addresses.
    let ret = unsafe {
        libc::sendmmsg(
            fd,
            hdrs.as_mut_ptr(),
            hdrs.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(err)
        };
    }
    Ok(ret as usize)
}
