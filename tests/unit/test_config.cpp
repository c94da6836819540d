// Configuration validation: every bad key is refused with a message naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "app/config.h"
#include "capture/source/dpdk_source.h"

namespace cv {
namespace {

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/callvault-config-XXXXXX";
  int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

std::string error_for(const std::string& text) {
  std::string path = write_temp(text), error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  EXPECT_FALSE(c.has_value()) << text;
  return error;
}

TEST(Config, SampleConfigLoads) {
  std::string error;
  auto c = load_config(std::string(CV_SOURCE_DIR) + "/deploy/callvault.toml", error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->sensor, "town-office-1");
  EXPECT_EQ(c->office_numbers.size(), 2u);
  EXPECT_EQ(c->tracker.sip_ports, std::vector<uint16_t>{5060});
  EXPECT_EQ(c->tracker.dialog_timeout_ns, 300 * kNsPerSec);
  EXPECT_EQ(c->tracker.tcp.max_connections, 16384u);
  EXPECT_EQ(c->tracker.tcp.max_bytes, 64u << 20);
  EXPECT_EQ(c->tracker.tcp.max_connection_bytes, 256u << 10);
  EXPECT_EQ(c->tracker.tcp.max_connection_segments, 64u);
  EXPECT_EQ(c->tracker.tcp.idle_timeout_ns, 600 * kNsPerSec);
  EXPECT_EQ(c->database.data_dir, "/var/lib/callvault");
  EXPECT_EQ(c->database.url, "");
  EXPECT_EQ(c->retention_period, "1 month");
  EXPECT_EQ(c->time_zone, "Europe/Warsaw");
  EXPECT_EQ(c->access_roles, default_access_roles());
  EXPECT_EQ(key_dir(*c), "/var/lib/callvault/keys");
}

TEST(Config, KeyDirDefaultsBesideTheAudioAndMustStayApartFromIt) {
  Config c;
  c.database.data_dir = "/srv/cv";
  EXPECT_EQ(key_dir(c), "/srv/cv/keys");
  EXPECT_EQ(key_dir_problem(c), "");
  c.key_dir = "/etc/callvault/keys";
  EXPECT_EQ(key_dir(c), "/etc/callvault/keys");
  EXPECT_EQ(key_dir_problem(c), "");
  for (const char* bad : {"/srv/cv/audio", "/srv/cv/audio/keys", "/srv/cv/audio/../audio/k", "/srv/cv",
                          "/srv", "/srv/cv/audio/"}) {
    c.key_dir = bad;
    EXPECT_NE(key_dir_problem(c).find("overlaps the audio directory"), std::string::npos) << bad;
  }
  c.key_dir = "/srv/cv/audiokeys";
  EXPECT_EQ(key_dir_problem(c), "");
  std::string path = write_temp("[storage]\ndata_dir = \"/srv/cv\"\nkey_dir = \"/srv/keys\"\n"), error;
  auto loaded = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(key_dir(*loaded), "/srv/keys");
}

TEST(Config, AccessRoles) {
  EXPECT_EQ(Config{}.access_roles, (std::vector<std::string>{"mayor", "deputy_mayor", "secretary",
                                                             "legal_counsel", "it_admin", "technician"}));
  std::string path = write_temp("[access]\nroles = [\"mayor\", \"archivist_2\"]\n"), error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->access_roles, (std::vector<std::string>{"mayor", "archivist_2"}));
  // The regulation's rules keep only the roles this office has.
  EXPECT_EQ(c->access_policy.listen_roles, (std::vector<std::string>{"mayor"}));
  EXPECT_EQ(c->access_policy.approve_roles, (std::vector<std::string>{"mayor"}));
  EXPECT_TRUE(c->access_policy.supervised_roles.empty());
  EXPECT_FALSE(c->access_policy.may_listen("archivist_2"));
  path = write_temp(
      "[access]\nroles = [\"boss\", \"clerk\", \"tech\"]\nlisten_roles = [\"boss\", \"tech\"]\n"
      "supervised_roles = [\"tech\"]\nsupervisor_role = \"boss\"\napprove_roles = [\"boss\"]\n");
  c = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->access_policy.may_listen("tech"));
  EXPECT_TRUE(c->access_policy.is_supervised("tech"));
  EXPECT_FALSE(c->access_policy.may_listen("clerk"));
  EXPECT_EQ(c->access_policy.supervisor_role, "boss");
  EXPECT_TRUE(c->access_policy.may_approve("boss"));
  for (const char* ok : {"mayor", "it_admin", "a", "x9"}) EXPECT_TRUE(valid_role_name(ok)) << ok;
  for (const char* bad : {"", "Mayor", "9x", "_x", "it-admin", "it admin", "burmistrz\xc5\x82"})
    EXPECT_FALSE(valid_role_name(bad)) << bad;
  EXPECT_FALSE(valid_role_name(std::string(64, 'a')));
}

TEST(Config, RetentionPeriods) {
  for (const char* ok : {"1 month", "30 days", "2 weeks", "1 year", "6 months", "1day"})
    EXPECT_TRUE(valid_retention_period(ok)) << ok;
  for (const char* bad : {"", "month", "0 months", "-1 month", "1 month ago", "12345 days", "1 mon"})
    EXPECT_FALSE(valid_retention_period(bad)) << bad;
}

TEST(Config, EveryBadKeyIsNamed) {
  struct Case {
    const char* text;
    const char* must_mention;
  } cases[] = {
      {"[recorder]\nsensr = \"x\"\n", "recorder.sensr"},
      {"[recorder]\nsensor = 5\n", "recorder.sensor"},
      {"[recorder]\nsensor = \"\"\n", "recorder.sensor"},
      {"[office]\nnumbers = \"100\"\n", "office.numbers"},
      {"[office]\nnumbers = [\"10-1000\"]\n", "10-1000"},
      {"[office]\nnumbers = [\"12ab\"]\n", "12ab"},
      {"[office]\nnumbers = [5]\n", "office.numbers"},
      {"[sip]\nports = []\n", "sip.ports"},
      {"[sip]\nports = [70000]\n", "sip.ports"},
      {"[sip]\nany_port = \"yes\"\n", "sip.any_port"},
      {"[sip]\ndialog_timeout_s = 1\n", "sip.dialog_timeout_s"},
      {"[sip]\ndialog_timeout_s = \"5\"\n", "sip.dialog_timeout_s"},
      {"[sip]\nlinger_s = -1\n", "sip.linger_s"},
      {"[sip]\nmax_calls = 0\n", "sip.max_calls"},
      {"[sip]\nmax_media_addresses = 0\n", "sip.max_media_addresses"},
      {"[tcp]\nmax_connections = 0\n", "tcp.max_connections"},
      {"[tcp]\nmax_connections = \"many\"\n", "tcp.max_connections"},
      {"[tcp]\nmax_memory_mib = 0\n", "tcp.max_memory_mib"},
      {"[tcp]\nmax_connection_kib = 2\n", "tcp.max_connection_kib"},
      {"[tcp]\nmax_connection_kib = 4096\n", "tcp.max_connection_kib"},
      {"[tcp]\nmax_memory_mib = 1\nmax_connection_kib = 2048\n", "tcp.max_connection_kib"},
      {"[tcp]\nmax_segments = 0\n", "tcp.max_segments"},
      {"[tcp]\nidle_timeout_s = 1\n", "tcp.idle_timeout_s"},
      {"[tcp]\nidle_timeout = 60\n", "tcp.idle_timeout"},
      {"[audio]\nmix_window_ms = 5\n", "audio.mix_window_ms"},
      {"[audio]\nmax_streams_per_call = 1\n", "audio.max_streams_per_call"},
      {"[storage]\ndata_dir = \"relative/dir\"\n", "storage.data_dir"},
      {"[storage]\ndata_dir = \"\"\n", "storage.data_dir"},
      {"[storage]\nkey_dir = \"\"\n", "storage.key_dir"},
      {"[storage]\nkey_dir = 5\n", "storage.key_dir"},
      {"[storage]\nkey_dir = \"keys\"\n", "storage.key_dir"},
      {"[storage]\ndata_dir = \"/d\"\nkey_dir = \"/d/audio/k\"\n", "storage.key_dir"},
      {"[database]\nurl = \"mysql://x\"\n", "database.url"},
      {"[database]\nurl = 5\n", "database.url"},
      {"[database]\nembedded_account = \"\"\n", "database.embedded_account"},
      {"[database]\nconnect_timeout_s = 0\n", "database.connect_timeout_s"},
      {"[database]\nwait_at_exit_s = -1\n", "database.wait_at_exit_s"},
      {"[database]\npassword = \"x\"\n", "database.password"},
      {"[retention]\nperiod = \"one month\"\n", "retention.period"},
      {"[retention]\nperiod = \"0 days\"\n", "retention.period"},
      {"[retention]\nperiod = \"1 fortnight\"\n", "retention.period"},
      {"[retention]\ntime_zone = \"Europe/Atlantis\"\n", "retention.time_zone"},
      {"[retention]\ntime_zone = \"../../etc/passwd\"\n", "retention.time_zone"},
      {"[access]\nroles = \"mayor\"\n", "access.roles"},
      {"[access]\nroles = []\n", "access.roles"},
      {"[access]\nroles = [5]\n", "access.roles"},
      {"[access]\nroles = [\"Mayor\"]\n", "Mayor"},
      {"[access]\nroles = [\"mayor\", \"mayor\"]\n", "twice"},
      {"[access]\nrole = [\"mayor\"]\n", "access.role"},
      {"[access]\nlisten_roles = [\"janitor\"]\n", "access.listen_roles"},
      {"[access]\nlisten_roles = \"mayor\"\n", "access.listen_roles"},
      {"[access]\napprove_roles = [\"mayor\", \"mayor\"]\n", "access.approve_roles"},
      {"[access]\napprove_roles = [1]\n", "access.approve_roles"},
      {"[access]\nsupervised_roles = [\"secretary\"]\nlisten_roles = [\"mayor\"]\n",
       "access.supervised_roles"},
      {"[access]\nsupervisor_role = \"technician\"\n", "access.supervisor_role"},
      {"[access]\nsupervisor_role = \"janitor\"\n", "access.supervisor_role"},
      {"[retention]\ninterval_s = 5\n", "retention.interval_s"},
      {"[retention]\ninterval_s = \"often\"\n", "retention.interval_s"},
      {"[recorder]\nlog_level = \"loud\"\n", "recorder.log_level"},
      {"[recorder]\nlog_level = 3\n", "recorder.log_level"},
      {"[capture]\ninterface = \"\"\n", "capture.interface"},
      {"[capture]\ninterface = 1\n", "capture.interface"},
      {"[capture]\ninterface = \"eth0/../x\"\n", "capture.interface"},
      {"[capture]\ninterface = \"averyveryverylongname\"\n", "capture.interface"},
      {"[capture]\ninterface = \"eth 0\"\n", "capture.interface"},
      {"[capture]\nsnaplen = 10\n", "capture.snaplen"},
      {"[capture]\nsnaplen = 1000000\n", "capture.snaplen"},
      {"[capture]\nsnaplen = \"big\"\n", "capture.snaplen"},
      {"[capture]\nbuffer_mb = 0\n", "capture.buffer_mb"},
      {"[capture]\nbuffer_mb = 100000\n", "capture.buffer_mb"},
      {"[capture]\ntimeout_ms = 0\n", "capture.timeout_ms"},
      {"[capture]\ntimeout_ms = 60000\n", "capture.timeout_ms"},
      {"[capture]\nfilter = 5\n", "capture.filter"},
      {"[capture]\nfilter = \"udp and port\"\n", "capture.filter"},
      {"[capture]\nfilter = \"nonsense here\"\n", "BPF"},
      {"[capture]\nfliter = \"udp\"\n", "capture.fliter"},
      {"[status]\nenabled = \"yes\"\n", "status.enabled"},
      {"[status]\nenabled = 1\n", "status.enabled"},
      {"[status]\nlisten = \"\"\n", "status.listen"},
      {"[status]\nlisten = 9477\n", "status.listen"},
      {"[status]\nlisten = \"127.0.0.1\"\n", "status.listen"},
      {"[status]\nlisten = \"127.0.0.1:99999\"\n", "status.listen"},
      {"[status]\nlisten = \"127.0.0.1:http\"\n", "status.listen"},
      {"[status]\nlisten = \"0.0.0.0:9477\"\n", "loopback"},
      {"[status]\nlisten = \"192.168.1.5:9477\"\n", "status.listen"},
      {"[status]\nlisten = \"[::]:9477\"\n", "loopback"},
      {"[status]\nlisten = \"[::1:9477\"\n", "status.listen"},
      {"[status]\nlisten = \"example.org:9477\"\n", "status.listen"},
      {"[status]\nmin_free_mb = -1\n", "status.min_free_mb"},
      {"[status]\nmin_free_mb = \"1G\"\n", "status.min_free_mb"},
      {"[status]\nport = 9477\n", "status.port"},
      {"[capture]\nbackend = \"netmap\"\n", "capture.backend"},
      {"[capture]\nbackend = \"\"\n", "capture.backend"},
      {"[capture]\nbackend = 1\n", "capture.backend"},
      {"[capture]\ndpdk_eal = 5\n", "capture.dpdk_eal"},
      {"[capture]\ndpdk_eal = \"--vdev 'net_pcap0,rx_pcap=/x\"\n", "capture.dpdk_eal"},
      {"[capture]\ndpdk_queues = 0\n", "capture.dpdk_queues"},
      {"[capture]\ndpdk_queues = 1000\n", "capture.dpdk_queues"},
      {"[capture]\ndpdk_queues = \"many\"\n", "capture.dpdk_queues"},
      {"[capture]\nbackend = \"dpdk\"\ninterface = \"net pcap0\"\n", "capture.interface"},
      {"[capture]\nbackend = \"dpdk\"\ninterface = \"../x\"\n", "capture.interface"},
      // A PCI address is a DPDK port, not a kernel interface.
      {"[capture]\ninterface = \"0000:03:00.0\"\n", "capture.interface"},
      {"[nonsense]\n", "nonsense"},
      {"[sip\n", ":1:"},  // syntax error: file:line:column
  };
  for (const auto& c : cases) {
    std::string e = error_for(c.text);
    EXPECT_NE(e.find(c.must_mention), std::string::npos) << "config:\n" << c.text << "error: " << e;
  }
}

TEST(Config, TcpLimitsAreRead) {
  std::string
      path = write_temp(
          "[tcp]\nmax_connections = 10\nmax_memory_mib = 2\nmax_connection_kib = 8\nmax_segments = 3\n"
          "idle_timeout_s = 30\n"),
      error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->tracker.tcp.max_connections, 10u);
  EXPECT_EQ(c->tracker.tcp.max_bytes, 2u << 20);
  EXPECT_EQ(c->tracker.tcp.max_connection_bytes, 8u << 10);
  EXPECT_EQ(c->tracker.tcp.max_connection_segments, 3u);
  EXPECT_EQ(c->tracker.tcp.idle_timeout_ns, 30 * kNsPerSec);
}

TEST(Config, CaptureTable) {
  std::string path = write_temp(
      "[recorder]\nlog_level = \"debug\"\n"
      "[capture]\ninterface = \"eth1\"\nsnaplen = 1600\nbuffer_mb = 256\n"
      "filter = \"udp or (vlan and udp)\"\ntimeout_ms = 500\n");
  std::string error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->capture.interface, "eth1");
  EXPECT_EQ(c->capture.snaplen, 1600);
  EXPECT_EQ(c->capture.buffer_mb, 256);
  EXPECT_EQ(c->capture.filter, "udp or (vlan and udp)");
  EXPECT_EQ(c->capture.timeout_ms, 500);
  // Defaults: everything on no interface until one is named.
  Config d;
  EXPECT_EQ(d.capture.interface, "");
  EXPECT_EQ(d.capture.filter, "");
  EXPECT_EQ(d.log_level, "info");
  std::string e;
  EXPECT_TRUE(valid_capture_filter("", e)) << e;
  EXPECT_FALSE(valid_capture_filter("port 99999", e));
  EXPECT_FALSE(valid_interface_name(""));
  EXPECT_TRUE(valid_interface_name("enp3s0f1.100"));
}

TEST(Config, StatusTable) {
  Config d;
  EXPECT_FALSE(d.status.enabled);  // no endpoint unless configured (or --status-listen)
  EXPECT_EQ(d.status.listen, "127.0.0.1:9477");
  EXPECT_EQ(d.status.min_free_mb, 1024u);
  std::string path = write_temp("[status]\nenabled = true\nlisten = \"[::1]:9100\"\nmin_free_mb = 0\n");
  std::string error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->status.enabled);
  EXPECT_EQ(c->status.listen, "[::1]:9100");
  EXPECT_EQ(c->status.min_free_mb, 0u);
  // The sample turns the endpoint on, on loopback.
  auto sample = load_config(std::string(CV_SOURCE_DIR) + "/deploy/callvault.toml", error);
  ASSERT_TRUE(sample) << error;
  EXPECT_TRUE(sample->status.enabled);
  EXPECT_EQ(sample->status.listen, "127.0.0.1:9477");
}

TEST(Config, DpdkCaptureKeys) {
  std::string path = write_temp(
      "[capture]\nbackend = \"dpdk\"\ninterface = \"0000:03:00.0\"\ndpdk_queues = 2\n"
      "dpdk_eal = \"-l 0 --in-memory --vdev 'net_pcap0,rx_pcap=/tmp/a b.pcap'\"\n");
  std::string error;
  auto c = load_config(path, error);
  std::remove(path.c_str());
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->capture_backend, "dpdk");
  EXPECT_EQ(c->capture.interface, "0000:03:00.0");
  EXPECT_EQ(c->dpdk_queues, 2);
  std::vector<std::string> words;
  ASSERT_TRUE(split_eal_args(c->dpdk_eal, words, error)) << error;
  EXPECT_EQ(words, (std::vector<std::string>{"-l", "0", "--in-memory", "--vdev",
                                             "net_pcap0,rx_pcap=/tmp/a b.pcap"}));
  Config d;
  EXPECT_EQ(d.capture_backend, "pcap");
  EXPECT_EQ(d.dpdk_eal, "");
  EXPECT_EQ(d.dpdk_queues, 4);
}

TEST(Config, SplitEalArgs) {
  std::vector<std::string> w;
  std::string e;
  ASSERT_TRUE(split_eal_args("", w, e));
  EXPECT_TRUE(w.empty());
  ASSERT_TRUE(split_eal_args("  --no-huge\t--no-pci  ", w, e));
  EXPECT_EQ(w, (std::vector<std::string>{"--no-huge", "--no-pci"}));
  ASSERT_TRUE(split_eal_args(R"(--vdev "net_pcap0,rx_pcap=/a \"q\".pcap" a\ b '' x)", w, e));
  EXPECT_EQ(w, (std::vector<std::string>{"--vdev", "net_pcap0,rx_pcap=/a \"q\".pcap", "a b", "", "x"}));
  EXPECT_FALSE(split_eal_args("--vdev \"x", w, e));
  EXPECT_NE(e.find("double quote"), std::string::npos);
  EXPECT_TRUE(valid_dpdk_port_name("net_pcap0"));
  EXPECT_TRUE(valid_dpdk_port_name("0000:03:00.0"));
  EXPECT_TRUE(valid_dpdk_port_name("1"));
  EXPECT_FALSE(valid_dpdk_port_name(""));
  EXPECT_FALSE(valid_dpdk_port_name("a/b"));
  EXPECT_FALSE(valid_dpdk_port_name(std::string(64, 'a')));
}

TEST(Config, MissingFileIsAnError) {
  std::string error;
  EXPECT_FALSE(load_config("/nonexistent/callvault.toml", error));
  EXPECT_NE(error.find("/nonexistent/callvault.toml"), std::string::npos);
}

}  // namespace
}  // namespace cv
