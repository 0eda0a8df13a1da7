//! The FUSE filesystem over [`ViewFiles`]: inode `i + 1` is view node `i` (the root is inode 1),
//! read-only, with long entry and attribute timeouts and the page cache kept across opens (the
//! view never changes while mounted). Requests are served by several loops at once, each read
//! on the thread that received it; no request waits for another request, so any number of
//! threads faulting pages of one mapped file make progress together.

use super::files::ViewFiles;
use crate::error::ErrorKind;
use crate::folder::NodeKind;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, Request,
};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// How long the kernel may keep names and attributes: the view is a snapshot, it never changes.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest read request (the kernel's own ceiling is 1 MiB with 4 KiB pages).
pub const MAX_READ: u32 = 1 << 20;

pub struct Fs {
    pub files: Arc<ViewFiles>,
    pub uid: u32,
    pub gid: u32,
}

thread_local! {
    /// Each request loop's read buffer, reused across requests.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn errno(e: &crate::Error) -> Errno {
    match e {
        crate::Error::Io { source, .. } if e.kind() == ErrorKind::Io => {
            source.raw_os_error().map_or(Errno::EIO, Errno::from_i32)
        }
        _ => Errno::EIO,
    }
}

impl Fs {
    fn node(&self, ino: INodeNo) -> Option<usize> {
        let i = u64::from(ino).checked_sub(1)? as usize;
        self.files.view().node(i).map(|_| i)
    }

    fn attr(&self, i: usize) -> FileAttr {
        let n = self.files.view().node(i).expect("a node of the view");
        let dir = matches!(n.kind, NodeKind::Dir);
        let size = n.len();
        FileAttr {
            ino: INodeNo(i as u64 + 1),
            size,
            blocks: size.div_ceil(512),
            atime: n.mtime,
            mtime: n.mtime,
            ctime: n.mtime,
            crtime: UNIX_EPOCH,
            kind: if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: if dir { 0o555 } else { 0o444 },
            nlink: if dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            flags: 0,
            blksize: MAX_READ,
        }
    }
}

impl Filesystem for Fs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // max_write sizes the request buffers (max_pages): 1 MiB reads need 256 pages.
        let _ = config.set_max_write(MAX_READ);
        let _ = config.set_max_readahead(MAX_READ);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self
            .node(parent)
            .and_then(|p| self.files.view().lookup(p, name));
        match found {
            Some(i) => reply.entry(&TTL, &self.attr(i), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.node(ino) {
            Some(i) => reply.attr(&TTL, &self.attr(i)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let Some(i) = self.node(ino) else {
            return reply.error(Errno::ENOENT);
        };
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match self.files.open_node(i) {
            Ok(h) => reply.opened(FileHandle(h), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(errno(&e)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        BUF.with(|b| {
            let mut b = b.borrow_mut();
            let want = size.min(MAX_READ) as usize;
            if b.len() < want {
                b.resize(want, 0);
            }
            match self.files.read(u64::from(fh), offset, &mut b[..want]) {
                Ok(n) => reply.data(&b[..n]),
                Err(e) => reply.error(errno(&e)),
            }
        })
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.files.release(u64::from(fh));
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.node(ino) {
            Some(i)
                if matches!(
                    self.files.view().node(i).map(|n| &n.kind),
                    Some(NodeKind::Dir)
                ) =>
            {
                reply.opened(
                    FileHandle(0),
                    FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
                )
            }
            Some(_) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(i) = self.node(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let view = self.files.view();
        let n = view.node(i).expect("checked");
        let dots = [
            (i, FileType::Directory, OsStr::new(".")),
            (n.parent, FileType::Directory, OsStr::new("..")),
        ];
        let kids = n.children.iter().map(|(name, &c)| {
            let t = match view.node(c).map(|n| &n.kind) {
                Some(NodeKind::Dir) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            (c, t, name.as_os_str())
        });
        // An entry's offset is the position of the next one.
        for (k, (node, t, name)) in dots
            .into_iter()
            .chain(kids)
            .enumerate()
            .skip(offset as usize)
        {
            if reply.add(INodeNo(node as u64 + 1), k as u64 + 1, t, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let view = self.files.view();
        let bytes: u64 = (0..view.len())
            .filter_map(|i| view.node(i))
            .map(|n| n.len())
            .sum();
        let bsize = 4096u32;
        reply.statfs(
            bytes.div_ceil(bsize as u64),
            0,
            0,
            view.len() as u64,
            0,
            bsize,
            255,
            bsize,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}
