package alerting

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/hashicorp/go-hclog"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	ammodels "github.com/prometheus/alertmanager/api/v2/models"

	httptransport "github.com/go-openapi/runtime/client"
)

// DefaultHTTPTimeout bounds one request to a source when the caller gives
// no HTTP client of its own.
const DefaultHTTPTimeout = 10 * time.Second

// AlertmanagerOptions configure an Alertmanager source.
type AlertmanagerOptions struct {
	// Name is the alertmanager block's label; it appears in every error.
	Name string
	// Address is the base URL, e.g. http://127.0.0.1:9093. A path prefix
	// (http://host/alertmanager) is kept.
	Address string
	// HTTPClient defaults to a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	Logger     hclog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Ignore, when set, leaves the alerts whose labels it reports out of
	// Alerts: the agent passes guardian.IsAnnouncement, so that tumult's
	// own announcements are never read back as trip wires.
	Ignore func(labels map[string]string) bool
}

// Alertmanager reads active alerts from and posts announcements to one
// Alertmanager through its v2 API.
type Alertmanager struct {
	name    string
	address string
	api     *amclient.AlertmanagerAPI
	log     hclog.Logger
	now     func() time.Time
	ignore  func(labels map[string]string) bool
}

// NewAlertmanager checks the options and builds the client. It does not
// contact Alertmanager.
func NewAlertmanager(opts AlertmanagerOptions) (*Alertmanager, error) {
	src, err := newSource("alertmanager", opts.Name, opts.Address, opts.HTTPClient, opts.Logger, opts.Now)
	if err != nil {
		return nil, err
	}
	u := src.url
	rt := httptransport.NewWithClient(u.Host, path.Join("/", u.Path, "api/v2"), []string{u.Scheme}, src.http)
	return &Alertmanager{
		name:    opts.Name,
		address: u.String(),
		api:     amclient.New(rt, strfmt.Default),
		log:     src.log,
		now:     src.now,
		ignore:  opts.Ignore,
	}, nil
}

// Name is the source's name from the agent config.
func (a *Alertmanager) Name() string { return a.name }

// Address is the base URL the source talks to.
func (a *Alertmanager) Address() string { return a.address }

// Alerts returns the alerts that count as trip wires: active, neither
// silenced nor inhibited, and not ignored (see AlertmanagerOptions.Ignore).
//
// Unprocessed alerts are included: Alertmanager has accepted them but not
// yet run them through its pipeline. Alertmanager evaluates silences and
// inhibitions when it answers this call, so an alert that should be muted is
// already filtered; an unprocessed one is a real firing alert, and leaving it
// out would only delay a halt.
func (a *Alertmanager) Alerts(ctx context.Context) ([]Alert, error) {
	yes, no := true, false
	params := amalert.NewGetAlertsParamsWithContext(ctx).
		WithActive(&yes).
		WithSilenced(&no).
		WithInhibited(&no).
		WithUnprocessed(&yes)
	res, err := a.api.Alert.GetAlerts(params)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %q: list alerts at %s: %w", a.name, a.address, err)
	}
	var out []Alert
	for _, ga := range res.GetPayload() {
		if ga == nil {
			continue
		}
		labels := map[string]string(ga.Labels)
		if a.ignore != nil && a.ignore(labels) {
			continue
		}
		// Alertmanager filtered these already; checking again costs
		// nothing and guards against a proxy that drops query parameters.
		if ga.Status != nil && (len(ga.Status.SilencedBy) > 0 || len(ga.Status.InhibitedBy) > 0) {
			continue
		}
		al := Alert{Labels: labels}
		if ga.StartsAt != nil {
			al.StartsAt = time.Time(*ga.StartsAt)
		}
		if ga.Fingerprint != nil && *ga.Fingerprint != "" {
			al.Fingerprint = *ga.Fingerprint
		} else {
			al.Fingerprint = fingerprint(labels)
		}
		out = append(out, al)
	}
	a.log.Trace("read alerts", "count", len(out))
	return out, nil
}

// Post sends announcements to Alertmanager. An announcement with EndsAt set
// resolves the alert with the same labels.
func (a *Alertmanager) Post(ctx context.Context, anns []Announcement) error {
	if len(anns) == 0 {
		return nil
	}
	body := make(ammodels.PostableAlerts, 0, len(anns))
	for i, an := range anns {
		if len(an.Labels) == 0 {
			return fmt.Errorf("alertmanager %q: post alerts: announcement %d has no labels", a.name, i)
		}
		body = append(body, &ammodels.PostableAlert{
			Alert:       ammodels.Alert{Labels: ammodels.LabelSet(an.Labels)},
			Annotations: ammodels.LabelSet(an.Annotations),
			StartsAt:    strfmt.DateTime(an.StartsAt),
			EndsAt:      strfmt.DateTime(an.EndsAt),
		})
	}
	params := amalert.NewPostAlertsParamsWithContext(ctx).WithAlerts(body)
	if _, err := a.api.Alert.PostAlerts(params); err != nil {
		return fmt.Errorf("alertmanager %q: post %d alerts to %s: %w", a.name, len(anns), a.address, err)
	}
	a.log.Debug("posted announcements", "count", len(anns))
	return nil
}

// Resolve ends announcements now: it posts them again with EndsAt set to
// the current time.
func (a *Alertmanager) Resolve(ctx context.Context, anns []Announcement) error {
	now := a.now()
	ended := make([]Announcement, len(anns))
	for i, an := range anns {
		ended[i] = an.Resolve(now)
	}
	return a.Post(ctx, ended)
}
