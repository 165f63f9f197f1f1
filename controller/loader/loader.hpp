// Owns the BPF object (skeleton) and the XDP attachments: the only code that
// touches libbpf/libxdp objects. Maps are pinned under a bpffs directory and
// reused across restarts so that key, block and counter state survive; a
// restarted daemon replaces its own attached program atomically.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"

namespace ratelimit {

// Borrowed map fds (owned by the Loader) handed to the maps/ wrappers.
struct MapFds {
    int cfg = -1, rules = -1, rulemeta = -1, lpm4 = -1, lpm6 = -1;
    int state4 = -1, state6 = -1, block4 = -1, block6 = -1;
    int ovr4 = -1, ovr6 = -1, global = -1, stats = -1, gstats = -1;
    int events = -1, evlim = -1, talkers = -1, admit = -1, lpmhint = -1, known = -1;
};

struct LoaderOptions {
    std::string pin_path;
    uint32_t state_entries_v4 = RL_STATE_DEFAULT_ENTRIES;
    uint32_t state_entries_v6 = RL_STATE_DEFAULT_ENTRIES;
    uint32_t block_entries = RL_BLOCK_DEFAULT_ENTRIES;
    bool force_reset = false;   // drop incompatible pinned maps instead of refusing
};

struct Attachment {
    std::string name;
    int ifindex = 0;
    XdpMode requested = XdpMode::Auto;
    std::string mode;           // "native" | "generic" as attached
    uint32_t prog_id = 0;
    bool attached = false;
    bool adopted = false;       // replaced a previous instance of our program
    bool multiprog = false;     // libxdp dispatcher in use
};

const char* xdpModeName(XdpMode m);
Result<XdpMode> parseXdpMode(const std::string& text);

class Loader {
public:
    // open -> size maps -> reuse or pin maps -> load -> pin program.
    static Result<std::unique_ptr<Loader>> load(const LoaderOptions& opts);
    ~Loader();
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    const MapFds& maps() const { return fds_; }
    int progFd() const;
    uint32_t progId() const { return prog_id_; }
    bool reusedState() const { return reused_; }
    const std::string& pinPath() const { return opts_.pin_path; }

    // Attaches to `ifname`; if our program (rl_xdp) is already attached there,
    // replaces it atomically (XDP_FLAGS_REPLACE) in the mode it runs in.
    Result<Attachment> attach(const std::string& ifname, XdpMode mode);
    // Removes our program from `ifname` (refuses if another program is attached).
    Status detach(const std::string& ifname);
    // Detaches from every interface of this netns running our program, then unpins everything.
    Status detachAllAndUnpin();
    // Current view of the attachments (re-queried from the kernel).
    std::vector<Attachment> attachments();
    // Pins the loaded program at <pin_path>/prog (replacing a previous pin) so
    // that `detach` and a restarted daemon can find it.
    Status pinProgram();
    bool multiprogAvailable() const { return multiprog_; }

private:
    Loader() = default;
    Status openAndLoad();
    Status preparePins();
    void refresh(Attachment& a);
    Result<int> ourProgFd(uint32_t id);

    LoaderOptions opts_;
    UniqueFd pin_lock_;   // flock(LOCK_EX) on the pin dir: one daemon per pin dir
    struct Skel;
    std::unique_ptr<Skel> skel_;
    MapFds fds_;
    uint32_t prog_id_ = 0;
    bool reused_ = false;
    bool multiprog_ = false;
    std::vector<Attachment> attached_;
};

}  // namespace ratelimit
