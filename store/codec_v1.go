package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// resourceRecord is the JSON form records had in schema version 1. Only
// migration 2 reads it now (and tests write it, to test that migration).
type resourceRecord struct {
	AppID         string       `json:"app"`
	Env           string       `json:"env"`
	Name          string       `json:"name"`
	Bucket        string       `json:"bucket"`
	Imported      bool         `json:"imported,omitempty"`
	Desired       Permissions  `json:"desired"`
	Applied       *Permissions `json:"applied,omitempty"`
	Phase         Phase        `json:"phase"`
	ActiveJob     string       `json:"activeJob,omitempty"`
	CreatedBucket bool         `json:"createdBucket,omitempty"`
	Warnings      []string     `json:"warnings,omitempty"`
	CreateTime    time.Time    `json:"created"`
	UpdateTime    time.Time    `json:"updated"`
}

func encodeResourceV1(r Resource) ([]byte, error) {
	return json.Marshal(resourceRecord{
		AppID: r.AppID, Env: r.Env, Name: r.Name, Bucket: r.Bucket, Imported: r.Imported,
		Desired: r.Desired, Applied: r.Applied, Phase: r.Phase, ActiveJob: r.ActiveJob,
		CreatedBucket: r.CreatedBucket, Warnings: r.Warnings,
		CreateTime: r.CreateTime, UpdateTime: r.UpdateTime,
	})
}

func decodeResourceV1(b []byte) (Resource, error) {
	var rec resourceRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return Resource{}, fmt.Errorf("decode resource: %w", err)
	}
	return Resource{
		ResourceKey: ResourceKey{AppID: rec.AppID, Env: rec.Env, Name: rec.Name},
		Bucket:      rec.Bucket, Imported: rec.Imported, Desired: rec.Desired, Applied: rec.Applied,
		Phase: rec.Phase, ActiveJob: rec.ActiveJob, CreatedBucket: rec.CreatedBucket,
		Warnings: rec.Warnings, CreateTime: rec.CreateTime, UpdateTime: rec.UpdateTime,
	}, nil
}

type jobRecord struct {
	ID              string    `json:"id"`
	AppID           string    `json:"app"`
	Env             string    `json:"env"`
	Resource        string    `json:"resource"`
	Operation       Operation `json:"op"`
	Status          Status    `json:"status"`
	Error           string    `json:"error,omitempty"`
	Undo            bool      `json:"undo,omitempty"`
	BucketRequested bool      `json:"bucketRequested,omitempty"`
	Warnings        []string  `json:"warnings,omitempty"`
	CreateTime      time.Time `json:"created"`
	UpdateTime      time.Time `json:"updated"`
	Seq             uint64    `json:"seq"`
}

func encodeJobV1(j Job) ([]byte, error) {
	return json.Marshal(jobRecord{
		ID: j.ID, AppID: j.AppID, Env: j.Env, Resource: j.Resource, Operation: j.Operation,
		Status: j.Status, Error: j.Error, Undo: j.Undo, BucketRequested: j.BucketRequested,
		Warnings: j.Warnings, CreateTime: j.CreateTime, UpdateTime: j.UpdateTime, Seq: j.seq,
	})
}

func decodeJobV1(b []byte) (Job, error) {
	var rec jobRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	return Job{
		ID: rec.ID, AppID: rec.AppID, Env: rec.Env, Resource: rec.Resource, Operation: rec.Operation,
		Status: rec.Status, Error: rec.Error, Undo: rec.Undo, BucketRequested: rec.BucketRequested,
		Warnings: rec.Warnings, CreateTime: rec.CreateTime, UpdateTime: rec.UpdateTime, seq: rec.Seq,
	}, nil
}
