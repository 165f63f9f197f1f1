#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

// The skeleton declares a global `struct ratelimit`, which would clash with
// namespace ratelimit; keep it in its own namespace.
namespace rlskel {
#include "ratelimit.skel.h"
}

#include <cstring>
#include <filesystem>

#include "loader/loader.hpp"
#include "util/log.hpp"

namespace ratelimit {
namespace {

constexpr const char* kProgName = "rl_xdp";
constexpr const char* kProgPin = "prog";
constexpr const char* kDefaultBpffs = "/sys/fs/bpf";

// While libxdp probes for its dispatcher (refused on kernels without freplace),
// libbpf warnings about that probe are expected: log them at debug level.
thread_local bool g_probing = false;

int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list ap) {
    LogLevel l = level == LIBBPF_WARN && !g_probing ? LogLevel::Warn : LogLevel::Debug;
    if (static_cast<int>(l) < static_cast<int>(logLevel())) return 0;
    logVa(l, fmt, ap);
    return 0;
}

int libxdpPrint(enum libxdp_print_level level, const char* fmt, va_list ap) {
    // libxdp warns loudly while probing the dispatcher; we log the outcome ourselves.
    LogLevel l = level == LIBXDP_WARN ? LogLevel::Info : LogLevel::Debug;
    if (static_cast<int>(l) < static_cast<int>(logLevel())) return 0;
    logVa(LogLevel::Debug, fmt, ap);
    return 0;
}

Status mkdirs(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Error{ec.value(), "mkdir", path};
    return {};
}

bool onBpffs(const std::string& path) {
    struct statfs st {};
    return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Maps that are a cache, not state: never pinned nor reused, fresh per load
// (rl_dcache entries are valid for one daemon's configuration generations;
// rl_known is rebuilt from the state tables by every daemon).
bool isCache(const bpf_map* map) {
    return std::strcmp(bpf_map__name(map), RL_MAP_DCACHE) == 0 || std::strcmp(bpf_map__name(map), RL_MAP_KNOWN) == 0;
}

// Makes sure `pin` is a directory on a bpffs, mounting /sys/fs/bpf if needed.
Status ensureBpffs(const std::string& pin) {
    if (exists(pin) && onBpffs(pin)) return {};
    if (!onBpffs(kDefaultBpffs) && pin.rfind(kDefaultBpffs, 0) == 0) {
        if (mount("bpf", kDefaultBpffs, "bpf", 0, "mode=0700") != 0)
            return sysError("mount bpffs", kDefaultBpffs);
        RL_LOG_INFO("mounted bpffs at %s", kDefaultBpffs);
    }
    if (auto s = mkdirs(pin); !s) return s;
    if (!onBpffs(pin)) return invalid("pin path", pin + " is not on a bpffs (mount -t bpf bpf <dir>)");
    return {};
}

Result<bpf_prog_info> progInfo(int fd) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return sysError("bpf_obj_get_info_by_fd prog");
    return info;
}

Result<bpf_map_info> mapInfo(int fd) {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return sysError("bpf_obj_get_info_by_fd map");
    return info;
}

__u32 m_flags(const std::string& mode) { return mode == "generic" ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE; }

const char* attachModeName(__u8 m) {
    switch (m) {
    case XDP_ATTACHED_DRV: return "native";
    case XDP_ATTACHED_SKB: return "generic";
    case XDP_ATTACHED_HW: return "offload";
    case XDP_ATTACHED_MULTI: return "multi";
    default: return "none";
    }
}

}  // namespace

const char* xdpModeName(XdpMode m) {
    switch (m) {
    case XdpMode::Auto: return "auto";
    case XdpMode::Native: return "native";
    case XdpMode::Generic: return "generic";
    }
    return "auto";
}

Result<XdpMode> parseXdpMode(const std::string& text) {
    if (text == "auto" || text.empty()) return XdpMode::Auto;
    if (text == "native" || text == "drv") return XdpMode::Native;
    if (text == "generic" || text == "skb") return XdpMode::Generic;
    return invalid("xdp mode", "'" + text + "' is not auto, native or generic");
}

struct Loader::Skel {
    rlskel::ratelimit* obj = nullptr;
    // libxdp handles of programs attached by us (closed before the object).
    std::vector<xdp_program*> xdp_progs;
    ~Skel() {
        for (auto* p : xdp_progs) xdp_program__close(p);
        rlskel::ratelimit::destroy(obj);
    }
};

Loader::~Loader() = default;

int Loader::progFd() const { return bpf_program__fd(skel_->obj->progs.rl_xdp); }

Result<std::unique_ptr<Loader>> Loader::load(const LoaderOptions& opts) {
    static bool printers = [] {
        libbpf_set_print(libbpfPrint);
        libxdp_set_print(libxdpPrint);
        return true;
    }();
    (void)printers;
    std::unique_ptr<Loader> l(new Loader());
    l->opts_ = opts;
    if (auto s = l->openAndLoad(); !s) return s.error();
    return l;
}

Status Loader::openAndLoad() {
    skel_ = std::make_unique<Skel>();
    skel_->obj = rlskel::ratelimit::open();
    if (!skel_->obj) return sysError("open BPF object", "ratelimit");
    auto& m = skel_->obj->maps;
    if (bpf_map__set_max_entries(m.rl_state4, opts_.state_entries_v4) ||
        bpf_map__set_max_entries(m.rl_state6, opts_.state_entries_v6) ||
        bpf_map__set_max_entries(m.rl_block4, opts_.block_entries) ||
        bpf_map__set_max_entries(m.rl_block6, opts_.block_entries))
        return sysError("bpf_map__set_max_entries");

    if (auto s = ensureBpffs(opts_.pin_path); !s) return s;
    // One daemon per pin dir: an exclusive flock on the directory, held for
    // the Loader's life (the kernel drops it when the process dies, kill -9
    // included). Taken before any pinned map is touched.
    pin_lock_.reset(open(opts_.pin_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pin_lock_.valid()) return sysError("open", opts_.pin_path);
    if (flock(pin_lock_.get(), LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK
                   ? invalid("pin path", opts_.pin_path + " is in use by another running ratelimitd " +
                                             "(one daemon per pin directory; stop it first)")
                   : sysError("flock", opts_.pin_path);
    if (auto s = preparePins(); !s) return s;

    if (int err = rlskel::ratelimit::load(skel_->obj); err)
        return Error{-err, "load BPF program",
                     std::string("ratelimit (see libbpf messages above)") +
                         (err == -EPERM || err == -EACCES
                              ? "; loading needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"
                              : "")};

    // Pin every map we created (reused maps are pinned already).
    bpf_map* map;
    bpf_object__for_each_map(map, skel_->obj->obj) {
        if (bpf_map__is_internal(map) || isCache(map)) continue;
        std::string path = opts_.pin_path + "/" + bpf_map__name(map);
        if (exists(path)) continue;
        if (int err = bpf_map__pin(map, path.c_str()); err)
            return Error{-err, "pin map", path};
    }
    fds_ = MapFds{
        bpf_map__fd(m.rl_cfg), bpf_map__fd(m.rl_rules), bpf_map__fd(m.rl_rulemeta),
        bpf_map__fd(m.rl_lpm4), bpf_map__fd(m.rl_lpm6), bpf_map__fd(m.rl_state4),
        bpf_map__fd(m.rl_state6), bpf_map__fd(m.rl_block4), bpf_map__fd(m.rl_block6),
        bpf_map__fd(m.rl_ovr4), bpf_map__fd(m.rl_ovr6), bpf_map__fd(m.rl_global),
        bpf_map__fd(m.rl_stats), bpf_map__fd(m.rl_gstats), bpf_map__fd(m.rl_events),
        bpf_map__fd(m.rl_evlim), bpf_map__fd(m.rl_talkers), bpf_map__fd(m.rl_admit),
        bpf_map__fd(m.rl_lpmhint), bpf_map__fd(m.rl_known)};
    auto info = progInfo(progFd());
    if (!info) return info.error();
    prog_id_ = info->id;
    RL_LOG_INFO("loaded %s (prog id %u), maps %s under %s", kProgName, prog_id_,
                reused_ ? "reused" : "created", opts_.pin_path.c_str());
    return {};
}

// For every map: if pinned and compatible, reuse it; if incompatible, refuse
// (or drop it with --force-reset). The ABI version lives in rl_cfg[0].
Status Loader::preparePins() {
    const std::string cfg_path = opts_.pin_path + "/" + RL_MAP_CFG;
    bool abi_mismatch = false;
    if (exists(cfg_path)) {
        UniqueFd fd(bpf_obj_get(cfg_path.c_str()));
        if (!fd.valid()) return sysError("bpf_obj_get", cfg_path);
        __u32 key = 0;
        rl_config cfg{};
        auto info = mapInfo(fd.get());
        if (info && info->value_size == sizeof(cfg) &&
            bpf_map_lookup_elem(fd.get(), &key, &cfg) == 0 && cfg.abi_version != 0 &&
            cfg.abi_version != RL_ABI_VERSION) {
            if (!opts_.force_reset)
                return invalid("pinned state incompatible",
                               "map " + std::string(RL_MAP_CFG) + " at " + cfg_path + " was written by ABI version " +
                                   std::to_string(cfg.abi_version) + ", this daemon speaks " +
                                   std::to_string(RL_ABI_VERSION) + "; restart with --force-reset to discard pinned state");
            abi_mismatch = true;
        }
    }
    int reused = 0;
    bpf_map* map;
    bpf_object__for_each_map(map, skel_->obj->obj) {
        if (bpf_map__is_internal(map) || isCache(map)) continue;
        const char* name = bpf_map__name(map);
        std::string path = opts_.pin_path + "/" + name;
        if (!exists(path)) continue;
        if (abi_mismatch) {
            RL_LOG_WARN("--force-reset: discarding pinned map %s (ABI version mismatch)", path.c_str());
            unlink(path.c_str());
            continue;
        }
        UniqueFd fd(bpf_obj_get(path.c_str()));
        if (!fd.valid()) return sysError("bpf_obj_get", path);
        auto info = mapInfo(fd.get());
        if (!info) return info.error();
        std::string why;
        auto cmp = [&](const char* what, uint64_t pinned, uint64_t want) {
            if (why.empty() && pinned != want)
                why = std::string(what) + " " + std::to_string(pinned) + " (pinned) != " + std::to_string(want) + " (wanted)";
        };
        cmp("type", info->type, bpf_map__type(map));
        cmp("key_size", info->key_size, bpf_map__key_size(map));
        cmp("value_size", info->value_size, bpf_map__value_size(map));
        cmp("max_entries", info->max_entries, bpf_map__max_entries(map));
        cmp("map_flags", info->map_flags, bpf_map__map_flags(map));
        if (!why.empty()) {
            if (!opts_.force_reset)
                return invalid("pinned state incompatible",
                               "map " + std::string(name) + " at " + path + ": " + why +
                                   "; restart with --force-reset to discard it (its state is lost)");
            RL_LOG_WARN("--force-reset: discarding incompatible pinned map %s: %s", path.c_str(), why.c_str());
            unlink(path.c_str());
            continue;
        }
        if (int err = bpf_map__reuse_fd(map, fd.get()); err) return Error{-err, "bpf_map__reuse_fd", path};
        ++reused;
    }
    reused_ = reused > 0;
    return {};
}

Status Loader::pinProgram() {
    std::string path = opts_.pin_path + "/" + kProgPin;
    std::string tmp = path + "_new";  // bpffs refuses names with dots
    unlink(tmp.c_str());
    if (bpf_obj_pin(progFd(), tmp.c_str()) != 0) return sysError("bpf_obj_pin", tmp);
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        // bpffs supports rename; fall back to unlink + pin if it does not
        unlink(tmp.c_str());
        unlink(path.c_str());
        if (bpf_obj_pin(progFd(), path.c_str()) != 0) return sysError("bpf_obj_pin", path);
    }
    return {};
}

// An fd for the attached program `id` if it is ours: this daemon's, the pinned
// one (a previous daemon's), or found by id with name rl_xdp. The by-id path
// needs CAP_SYS_ADMIN; the first two work with CAP_BPF + CAP_NET_ADMIN only.
Result<int> Loader::ourProgFd(uint32_t id) {
    if (id == prog_id_) return dup(progFd());
    std::string pin = opts_.pin_path + "/" + kProgPin;
    UniqueFd pinned(bpf_obj_get(pin.c_str()));
    if (pinned.valid()) {
        auto info = progInfo(pinned.get());
        if (info && info->id == id) return pinned.release();
    }
    UniqueFd fd(bpf_prog_get_fd_by_id(id));
    if (!fd.valid())
        return Error{EEXIST, "inspect attached program",
                     "program id " + std::to_string(id) + " is neither ours nor pinned at " + pin +
                         " and cannot be opened by id (" + strerror(errno) + ")"};
    auto info = progInfo(fd.get());
    if (!info) return info.error();
    if (std::strcmp(info->name, kProgName) != 0)
        return Error{EEXIST, "inspect attached program",
                     "XDP program '" + std::string(info->name) + "' (id " + std::to_string(id) + ") is not ours"};
    // An rl_xdp whose maps are not the ones pinned here belongs to another
    // instance (another pin dir), whose daemon may be running: never take it over.
    __u32 map_ids[64] = {};
    bpf_prog_info mi{};
    __u32 len = sizeof(mi);
    mi.nr_map_ids = 64;
    mi.map_ids = reinterpret_cast<__u64>(map_ids);
    auto cfg = mapInfo(bpf_map__fd(skel_->obj->maps.rl_cfg));
    if (bpf_obj_get_info_by_fd(fd.get(), &mi, &len) != 0 || !cfg) return sysError("bpf_obj_get_info_by_fd prog");
    bool shares = false;
    for (__u32 i = 0; i < mi.nr_map_ids && i < 64; ++i) shares |= map_ids[i] == cfg->id;
    if (!shares)
        return Error{EBUSY, "inspect attached program",
                     std::string(kProgName) + " (id " + std::to_string(id) +
                         ") belongs to another ratelimitd instance (its maps are not those pinned at " +
                         opts_.pin_path + "); stop that daemon or detach it first"};
    return fd.release();
}

Result<Attachment> Loader::attach(const std::string& ifname, XdpMode mode) {
    Attachment a;
    a.name = ifname;
    a.requested = mode;
    a.ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (a.ifindex == 0) return Error{ENOENT, "attach", "no interface " + ifname};

    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (int err = bpf_xdp_query(a.ifindex, 0, &q); err) return Error{-err, "bpf_xdp_query", ifname};

    if (q.prog_id != 0) {
        auto oldfd = ourProgFd(q.prog_id);
        if (!oldfd)
            return Error{EEXIST, "attach",
                         ifname + " already runs an XDP program (" + attachModeName(q.attach_mode) +
                             " mode): " + oldfd.error().context + "; refusing to replace it"};
        UniqueFd old(*oldfd);
        // Our program (a previous daemon's): swap in the new one without a gap.
        bool skb = q.attach_mode == XDP_ATTACHED_SKB;
        if ((mode == XdpMode::Native && skb) || (mode == XdpMode::Generic && !skb))
            RL_LOG_WARN("%s: keeping the running program's %s mode (requested %s) to replace it atomically; "
                        "detach first to change modes",
                        ifname.c_str(), attachModeName(q.attach_mode), xdpModeName(mode));
        if (q.prog_id != prog_id_) {
            bpf_xdp_attach_opts o{};
            o.sz = sizeof(o);
            o.old_prog_fd = old.get();
            __u32 flags = XDP_FLAGS_REPLACE | (skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
            if (int err = bpf_xdp_attach(a.ifindex, progFd(), flags, &o); err)
                return Error{-err, "bpf_xdp_attach (replace)", ifname};
            RL_LOG_INFO("%s: adopted: replaced %s (prog id %u) with prog id %u atomically, %s mode", ifname.c_str(),
                        kProgName, q.prog_id, prog_id_, attachModeName(q.attach_mode));
        }
        a.adopted = true;
        a.mode = skb ? "generic" : "native";
    } else {
        DECLARE_LIBXDP_OPTS(xdp_program_opts, xo, .obj = skel_->obj->obj, .prog_name = kProgName);
        xdp_program* xp = xdp_program__create(&xo);
        if (int err = libxdp_get_error(xp); err) return Error{-err, "xdp_program__create", kProgName};
        std::vector<xdp_attach_mode> tries;
        if (mode != XdpMode::Generic) tries.push_back(XDP_MODE_NATIVE);
        if (mode != XdpMode::Native) tries.push_back(XDP_MODE_SKB);
        int err = 0;
        for (auto m : tries) {
            g_probing = true;
            err = xdp_program__attach(xp, a.ifindex, m, 0);
            g_probing = false;
            if (err == 0) {
                a.mode = m == XDP_MODE_NATIVE ? "native" : "generic";
                break;
            }
            if (m == XDP_MODE_NATIVE && mode == XdpMode::Auto)
                RL_LOG_WARN("%s: native XDP attach failed (%s); falling back to generic (skb) mode", ifname.c_str(),
                            strerror(-err));
        }
        if (err) {
            xdp_program__close(xp);
            return Error{-err, "xdp_program__attach", ifname + " (" + xdpModeName(mode) + ")"};
        }
        skel_->xdp_progs.push_back(xp);
        // libxdp attaches either its dispatcher (multiprog) or, when the kernel
        // refuses freplace, our program itself: tell them apart by the id.
        __u32 now_id = 0;
        if (bpf_xdp_query_id(a.ifindex, m_flags(a.mode), &now_id) == 0) a.multiprog = now_id != 0 && now_id != prog_id_;
        multiprog_ = a.multiprog;
        if (!a.multiprog)
            RL_LOG_INFO("%s: multiprog dispatcher unavailable: single-program attach", ifname.c_str());
        RL_LOG_INFO("%s: attached %s (prog id %u) in %s mode", ifname.c_str(), kProgName, prog_id_, a.mode.c_str());
    }
    a.attached = true;
    a.prog_id = prog_id_;
    for (auto& e : attached_)
        if (e.name == ifname) {
            e = a;
            return a;
        }
    attached_.push_back(a);
    return a;
}

Status Loader::detach(const std::string& ifname) {
    int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex == 0) return Error{ENOENT, "detach", "no interface " + ifname};
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (int err = bpf_xdp_query(ifindex, 0, &q); err) return Error{-err, "bpf_xdp_query", ifname};
    if (q.prog_id == 0) return Error{ENOENT, "detach", "no XDP program on " + ifname};
    auto oldfd = ourProgFd(q.prog_id);
    if (!oldfd) return Error{EEXIST, "detach", ifname + ": " + oldfd.error().context + "; left alone"};
    UniqueFd old(*oldfd);
    bpf_xdp_attach_opts o{};
    o.sz = sizeof(o);
    o.old_prog_fd = old.get();
    __u32 flags = XDP_FLAGS_REPLACE | (q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
    if (int err = bpf_xdp_attach(ifindex, -1, flags, &o); err) return Error{-err, "bpf_xdp_detach", ifname};
    RL_LOG_INFO("%s: detached %s (prog id %u)", ifname.c_str(), kProgName, q.prog_id);
    std::erase_if(attached_, [&](const Attachment& a) { return a.name == ifname; });
    return {};
}

Status Loader::detachAllAndUnpin() {
    // Every interface of this netns that runs our program (ours or a previous daemon's).
    if (struct if_nameindex* ifs = if_nameindex()) {
        for (auto* i = ifs; i->if_index != 0; ++i) {
            __u32 id = 0;
            if (bpf_xdp_query_id(static_cast<int>(i->if_index), 0, &id) != 0 || id == 0) continue;
            auto fd = ourProgFd(id);
            if (!fd) continue;
            close(*fd);
            if (auto s = detach(i->if_name); !s) RL_LOG_WARN("%s", s.error().message().c_str());
        }
        if_freenameindex(ifs);
    }
    attached_.clear();
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(opts_.pin_path, ec)) unlink(e.path().c_str());
    if (rmdir(opts_.pin_path.c_str()) != 0 && errno != ENOENT)
        return sysError("rmdir", opts_.pin_path);
    RL_LOG_INFO("unpinned all state under %s", opts_.pin_path.c_str());
    return {};
}

void Loader::refresh(Attachment& a) {
    a.ifindex = static_cast<int>(if_nametoindex(a.name.c_str()));
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (a.ifindex == 0 || bpf_xdp_query(a.ifindex, 0, &q) != 0) {
        a.attached = false;
        a.prog_id = 0;
        return;
    }
    a.prog_id = q.prog_id;
    a.attached = q.prog_id != 0 && q.prog_id == prog_id_;
    if (q.prog_id) a.mode = attachModeName(q.attach_mode);
}

std::vector<Attachment> Loader::attachments() {
    for (auto& a : attached_) refresh(a);
    return attached_;
}

}  // namespace ratelimit
