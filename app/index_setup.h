// Connecting the pipeline to the index: which database, started and migrated
// when it is the embedded one, checked before anything is recorded.
#pragma once

#include <memory>
#include <string>

#include "app/config.h"
#include "storage/db/index_writer.h"

namespace cv {

std::string journal_dir(const Config& config);  // <data_dir>/journal
std::string audio_dir(const Config& config);    // <data_dir>/audio

// Readies the database the recorder will write to. Embedded: started (initdb
// on first use) and migrated. External: checked when reachable (schema
// version, no superuser); unreachable is not an error (the journal holds the
// calls). Returns false, with the reason, when recording must not start.
bool prepare_index_database(const Config& config, std::string& writer_conninfo, std::string& error);

// prepare_index_database, then the writer thread with its journal.
std::unique_ptr<IndexWriter> start_index_writer(const Config& config, std::string& error);

// A random (version 4) uuid for a capture session.
std::string random_uuid();

}  // namespace cv
